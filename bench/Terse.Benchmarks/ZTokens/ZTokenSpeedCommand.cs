using System.Diagnostics;
using System.Globalization;
using Terse.EntropyCoding;
using Terse.Neural.Numerics;
using Terse.ZTokens;

namespace Terse.Benchmarks.ZTokens;

/// <summary>
/// <c>ztokens-speed MODEL_DIR FILE [--kb N] [--repeats R]</c>: compress (without the verifying
/// decode) and decompress tokens/s of a trained Z-token model on the first N KB of FILE, on one core
/// and on all (segments or chunks in parallel and the engine's threads), with the entropy coder (same base model, same tokens) timed in the same run as the
/// reference; then training updates/s at the model's shape. Best of R runs each.
/// </summary>
public static class ZTokenSpeedCommand
{
    public static int Run(string[] args)
    {
        if (args.Length < 2)
        {
            Console.Error.WriteLine("usage: ztokens-speed MODEL_DIR FILE [--kb N] [--repeats R]");
            return 2;
        }
        int kb = ZTokenBench.IntOption(args, "--kb", 20), repeats = ZTokenBench.IntOption(args, "--repeats", 3);
        var (model, tokenizer) = ZTokenBench.Load(args[0]);
        var text = File.ReadAllBytes(args[1]);
        text = text[..Math.Min(text.Length, kb * 1000)];
        while (text.Length > 0 && (text[^1] & 0xC0) == 0x80)
            text = text[..^1]; // do not cut inside a UTF-8 sequence
        var ids = tokenizer.Encode(System.Text.Encoding.UTF8.GetString(text));
        Console.WriteLine($"{args[1]}: {text.Length:N0} bytes, {ids.Length:N0} tokens; {Environment.ProcessorCount} cores; {RuntimeInformationText()}");
        Console.WriteLine("| what | threads | compress tokens/s | decompress tokens/s |");
        Console.WriteLine("|---|---:|---:|---:|");
        int savedThreads = Compute.Threads;
        foreach (int threads in new[] { 1, Environment.ProcessorCount }.Distinct())
        {
            Compute.Threads = threads; // the engine's thread budget too, as the entropy bench counts cores
            var z = new ZTokenCompressor(model, tokenizer, new ZTokenCompressionOptions(MaxDegreeOfParallelism: threads));
            byte[] container = [];
            double compress = Best(repeats, () => container = z.Compress(text, ids, verify: false).Container);
            double decompress = Best(repeats, () => z.Decompress(container));
            Console.WriteLine($"| Z-tokens ({model.Vocabulary.CodeCount} codes, segments of {model.Shape.SegmentLength}) | {threads} | {ids.Length / compress:N0} | {ids.Length / decompress:N0} |");

            var entropy = new EntropyCodec(new LlamaNextTokenModel(Terse.Models.ModelResolver.Load(model.BaseName), model.BaseName), tokenizer, new EntropyCodecOptions(threads));
            byte[] coded = [];
            double eCompress = Best(repeats, () => coded = entropy.Compress(text).Container);
            double eDecompress = Best(repeats, () => entropy.Decompress(coded));
            Console.WriteLine($"| entropy coder (reference) | {threads} | {ids.Length / eCompress:N0} | {ids.Length / eDecompress:N0} |");
        }
        Compute.Threads = savedThreads;

        var trainee = ZTokenModel.Create(Terse.Models.ModelResolver.Load(model.BaseName), model.BaseName, model.Shape, model.Bos);
        trainee.InitializeCodesFrom(ZTokenModel.MostFrequentTokens(ids, trainee.Vocabulary.BaseSize, trainee.Vocabulary.CodeCount));
        foreach (bool teacher in new[] { true, false })
        {
            var trainer = new ZTokenTrainer(trainee, new ZTokenTrainingSettings { BatchSize = 16, TotalSteps = 1000, TeacherSteps = teacher ? 1000 : 0 });
            trainer.TrainStep(ids);
            int steps = 10;
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < steps; i++)
                trainer.TrainStep(ids);
            Console.WriteLine($"training ({(teacher ? "teacher" : "end-to-end")} steps, batch 16): {steps / clock.Elapsed.TotalSeconds:F2} updates/s");
        }
        return 0;
    }

    private static double Best(int repeats, Action action)
    {
        double best = double.MaxValue;
        for (int i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            action();
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        return best;
    }

    private static string RuntimeInformationText() =>
        $"{System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}";
}
