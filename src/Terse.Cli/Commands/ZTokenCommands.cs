using System.CommandLine;
using System.Diagnostics;
using Terse.Models;
using Terse.Neural.Training;
using Terse.Cli.Infrastructure;
using Terse.EntropyCoding;
using Terse.Tokenization;
using Terse.ZTokens;

namespace Terse.Cli.Commands;

/// <summary><c>terse ztokens train|eval|train-inferencer|generate</c>: learned Z-token compression (Li et al. 2026) on a frozen base model, and generation in Z-space.</summary>
public static class ZTokenCommands
{
    public static void AddTo(RootCommand root)
    {
        var ztokens = new Command("ztokens", "Train and evaluate Z-token compressors: a frozen base LM with a compressor and a decompressor LoRA adapter and |Z| new tokens.");
        ztokens.Subcommands.Add(TrainCommand());
        ztokens.Subcommands.Add(EvalCommand());
        ztokens.Subcommands.Add(TrainInferencerCommand());
        ztokens.Subcommands.Add(GenerateCommand());
        root.Subcommands.Add(ztokens);
    }

    private static Command TrainCommand()
    {
        var model = new Option<string>("--model", "-m") { Description = $"Base model: a built-in name (default {ModelResolver.DefaultFor("ztokens train")}; `terse models` lists them), a llama2.c .bin or a Hugging Face folder.", DefaultValueFactory = _ => ModelResolver.DefaultFor("ztokens train") };
        var tokenizer = new Option<string?>("--tokenizer", "-t") { Description = "Tokenizer (name or file); default: the built-in model's own." };
        var files = new Argument<string[]>("files") { Description = "Training text files.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--output", "-o") { Description = "Folder to write the trained Z-token model to.", Required = true };
        var codes = new Option<int>("--z-vocab") { Description = "|Z|: number of Z-tokens.", DefaultValueFactory = _ => 256 }.InRange(2, 65_536);
        var segment = new Option<int>("--segment") { Description = "Text tokens per coded segment.", DefaultValueFactory = _ => 16 }.InRange(1, 4096);
        var maxCode = new Option<int>("--max-code") { Description = "Most Z-tokens per segment.", DefaultValueFactory = _ => 12 }.InRange(1, 4096);
        var budget = new Option<float>("--budget") { Description = "Length budget as text tokens per Z-token: beyond ⌈segment / budget⌉ Z-tokens the over-budget penalty applies.", DefaultValueFactory = _ => 2f }.Positive();
        var rateWeight = new Option<float>("--rate-weight") { Description = "β: each Z-token costs β·ln|Z| nats (0.02 fills every code up to the budget; 0.5 collapses codes to one Z-token: docs/ztokens.md).", DefaultValueFactory = _ => 0.25f }.NonNegative();
        var overWeight = new Option<float>("--over-budget-weight") { Description = "λ: each Z-token beyond the budget costs another λ·ln|Z| nats.", DefaultValueFactory = _ => 1f }.NonNegative();
        var continuationWeight = new Option<float>("--continuation-weight") { Description = "Weight of predicting the next segment from the Z code alone (0: off).", DefaultValueFactory = _ => 0.25f }.NonNegative();
        var steps = new Option<int>("--steps") { Description = "Optimizer updates.", DefaultValueFactory = _ => 2000 };
        var teacherSteps = new Option<int?>("--teacher-steps") { Description = "Updates of the teacher warm start (default: half of --steps)." }.AtLeast(0);
        var teacher = new Option<string>("--teacher") { Description = "Teacher code: mispredicted (the tokens the base model mispredicts; content-adaptive) or prefix (the first --max-code tokens).", DefaultValueFactory = _ => "mispredicted" };
        teacher.AcceptOnlyFromAmong("mispredicted", "prefix");
        var batch = new Option<int>("--batch") { Description = "Segments per update (each coded twice).", DefaultValueFactory = _ => 16 }.AtLeast(1);
        var rate = new Option<float>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => 3e-3f }.Positive();
        var rank = new Option<int>("--rank") { Description = "LoRA rank of both adapters (alpha = 2 × rank).", DefaultValueFactory = _ => 8 }.AtLeast(1);
        var temperature = new Option<string>("--temperature") { Description = "Gumbel-softmax temperature, start,end (annealed geometrically).", DefaultValueFactory = _ => "0.5,0.3" };
        var noise = new Option<float>("--noise") { Description = "Scale of the Gumbel noise when sampling codes.", DefaultValueFactory = _ => 0.5f }.NonNegative();
        var seed = new Option<ulong>("--seed") { Description = "Seed of the new weights, segment choice and noise.", DefaultValueFactory = _ => 1UL };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Updates between checkpoints (OUTPUT/checkpoint.safetensors; a later run with the same arguments resumes from it). 0: none.", DefaultValueFactory = _ => 250 }.AtLeast(0);
        var threads = EngineThreads.CreateOption();
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var command = new Command("train", "Train a Z-token compressor and decompressor on text files (seeded; resumable from its checkpoint).")
        {
            model, tokenizer, files, output, codes, segment, maxCode, budget, rateWeight, overWeight, continuationWeight, steps, teacherSteps, teacher,
            batch, rate, rank, temperature, noise, seed, checkpointEvery, threads, json,
        };
        command.SetGuardedAction(parse =>
        {
            EngineThreads.Apply(parse.GetValue(threads));
            string modelName = parse.GetValue(model)!;
            var (baseModel, vocabulary) = ModelResolver.LoadWithTokenizer(modelName, parse.GetValue(tokenizer));
            int bos = vocabulary.BosId ?? throw new CliException($"tokenizer '{vocabulary.Name}' has no BOS token");
            if (vocabulary.VocabularySize > baseModel.Config.VocabSize)
                throw new CliException($"tokenizer '{vocabulary.Name}' has {vocabulary.VocabularySize} tokens, the model {baseModel.Config.VocabSize}");
            ulong seedValue = parse.GetValue(seed);
            if (seedValue == 0)
                throw new CliException("--seed must be non-zero");
            int stepCount = parse.GetValue(steps);
            if (stepCount < 1)
                throw new CliException("--steps must be ≥ 1");
            var (startTemperature, endTemperature) = ParsePair(parse.GetValue(temperature)!, "--temperature");
            int rankValue = parse.GetValue(rank);
            var shape = new ZTokenShape(parse.GetValue(codes), parse.GetValue(segment), parse.GetValue(maxCode), rankValue, 2f * rankValue);
            var corpus = parse.GetValue(files)!.SelectMany(path => CompressCommands.TokenizeExactly(vocabulary, CliIO.ReadAllBytes(path))).ToArray();
            var z = ZTokenModel.Create(baseModel, ModelResolver.RecordedName(modelName), shape, bos, (int)(seedValue & int.MaxValue));
            z.InitializeCodesFrom(ZTokenModel.MostFrequentTokens(corpus, z.Vocabulary.BaseSize, z.Vocabulary.CodeCount));
            var settings = new ZTokenTrainingSettings
            {
                BatchSize = parse.GetValue(batch),
                TotalSteps = stepCount,
                WarmupSteps = Math.Max(1, stepCount / 20),
                LearningRate = parse.GetValue(rate),
                MinLearningRate = parse.GetValue(rate) / 10,
                Budget = parse.GetValue(budget),
                RateWeight = parse.GetValue(rateWeight),
                OverBudgetWeight = parse.GetValue(overWeight),
                ContinuationWeight = parse.GetValue(continuationWeight),
                StartTemperature = startTemperature,
                EndTemperature = endTemperature,
                NoiseScale = parse.GetValue(noise),
                TeacherSteps = parse.GetValue(teacherSteps) ?? stepCount / 2,
                Teacher = parse.GetValue(teacher) == "prefix" ? TeacherCode.Prefix : TeacherCode.Mispredicted,
                Seed = seedValue,
            };
            var trainer = new ZTokenTrainer(z, settings);
            if (corpus.Length < trainer.MinimumCorpusTokens)
                throw new CliException($"the training text has {corpus.Length} tokens; training needs at least {trainer.MinimumCorpusTokens}");
            string outputPath = parse.GetValue(output)!;
            string checkpointPath = Path.Combine(outputPath, "checkpoint.safetensors");
            int every = parse.GetValue(checkpointEvery);
            if (every > 0 && File.Exists(checkpointPath))
                trainer.LoadCheckpoint(checkpointPath);
            else if (every > 0)
                Terse.IO.AtomicFile.CreateFolder(outputPath);

            bool wantJson = parse.GetValue(json);
            bool interactive = ProgressReporter.IsInteractive && !wantJson;
            var clock = Stopwatch.StartNew();
            var recent = new List<ZTokenStepResult>();
            var first = new List<ZTokenStepResult>();
            int startStep = trainer.Step;
            ProgressReporter.Run("training", stepCount - startStep, (progress, setLabel) =>
            {
                while (trainer.Step < stepCount)
                {
                    var result = trainer.TrainStep(corpus);
                    if (first.Count < 20)
                        first.Add(result);
                    recent.Add(result);
                    if (recent.Count > 50)
                        recent.RemoveAt(0);
                    progress.Report(trainer.Step - startStep);
                    string line = Describe(result, recent);
                    setLabel("training · " + line);
                    if (!interactive && !wantJson && (trainer.Step % 25 == 0 || trainer.Step == stepCount))
                        Console.Error.WriteLine($"step {trainer.Step}/{stepCount}: {line}");
                    if (every > 0 && (trainer.Step % every == 0 || trainer.Step == stepCount))
                        trainer.SaveCheckpoint(checkpointPath);
                }
                return 0;
            });
            double seconds = clock.Elapsed.TotalSeconds;
            if (trainer.Step == startStep && File.Exists(Path.Combine(outputPath, "ztokens.json"))
                && ZTokenModel.ReadManifest(outputPath).Identity == Convert.ToHexStringLower(z.Identity))
            {
                // Resumed a finished run: the saved model is this one; keep its manifest and the figures of the run that trained it.
                Console.Error.WriteLine($"{outputPath} already holds this model after {trainer.Step} steps: nothing to do");
                return ExitCodes.Success;
            }
            var summary = new ZTokenTrainingSummary(
                trainer.Step, corpus.Length, Math.Round(seconds, 1), settings with { }, shape.Codes, shape.SegmentLength, shape.MaxCodeLength, shape.LoraRank,
                Average(first, r => r.Loss), Average(recent, r => r.Loss),
                Average(recent, r => r.ReconstructionBits), Average(recent, r => r.TokenAccuracy), Average(recent, r => r.ExactRate),
                Average(recent, r => r.MeanCodeLength), outputPath);
            z.Save(outputPath, vocabulary, summary);
            if (wantJson)
                CliIO.WriteJson(summary);
            else
                Console.Out.WriteLine($"trained {summary.Steps} steps on {summary.CorpusTokens:N0} tokens in {seconds:F0} s; loss {summary.FirstLoss:F3} → {summary.LastLoss:F3}; " +
                    $"last 50 steps: reconstruction {summary.ReconstructionBits:F3} bits/token, accuracy {summary.TokenAccuracy:P1}, mean code {summary.MeanCodeLength:F2} Z-tokens; wrote {outputPath}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command TrainInferencerCommand()
    {
        var directory = new Argument<string>("model") { Description = "A folder written by `terse ztokens train`; the inferencer is saved in MODEL/inferencer." };
        var files = new Argument<string[]>("files") { Description = "Training text files (coded by the model's compressor).", Arity = ArgumentArity.OneOrMore };
        var tokenizer = new Option<string?>("--tokenizer", "-t") { Description = "Tokenizer file, when the model's is not built in." };
        var contextSegments = new Option<int>("--context-segments") { Description = "Segments of codes the inferencer reads before the one it writes.", DefaultValueFactory = _ => 8 };
        var steps = new Option<int>("--steps") { Description = "Optimizer updates.", DefaultValueFactory = _ => 600 };
        var batch = new Option<int>("--batch") { Description = "Samples per update.", DefaultValueFactory = _ => 8 };
        var seed = new Option<int>("--seed") { Description = "Seed of the new adapter and of the samples.", DefaultValueFactory = _ => 1 };
        var threads = EngineThreads.CreateOption();
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var command = new Command("train-inferencer", "Train an inferencer adapter that continues a text in Z-space: it reads the codes of the preceding segments and writes the next segment's code.")
        {
            directory, files, tokenizer, contextSegments, steps, batch, seed, threads, json,
        };
        command.SetGuardedAction(parse =>
        {
            EngineThreads.Apply(parse.GetValue(threads));
            int stepCount = parse.GetValue(steps), batchSize = parse.GetValue(batch), context = parse.GetValue(contextSegments);
            if (stepCount < 1 || batchSize < 1 || context < 1)
                throw new CliException("--steps, --batch and --context-segments must be ≥ 1");
            string folder = parse.GetValue(directory)!;
            var (z, vocabulary) = Load(folder, parse.GetValue(tokenizer));
            if (Directory.Exists(Path.Combine(folder, ZTokenGeneration.InferencerName)))
                throw new CliException($"{Path.Combine(folder, ZTokenGeneration.InferencerName)} exists already: remove it to train another");
            var corpus = parse.GetValue(files)!.SelectMany(path => CompressCommands.TokenizeExactly(vocabulary, CliIO.ReadAllBytes(path))).ToArray();
            var clock = Stopwatch.StartNew();
            var losses = new List<float>();
            var generation = ProgressReporter.Run("training the inferencer", stepCount, progress =>
                ZTokenGeneration.Train(z, corpus, context, new PrefixTuningSettings(Steps: stepCount, BatchSize: batchSize, Seed: parse.GetValue(seed)),
                    new Progress<PrefixTuningStep>(step => { losses.Add(step.Loss); progress.Report(step.Step); })));
            generation.Save(folder);
            var summary = new InferencerSummary(stepCount, corpus.Length, context, Math.Round(losses.Take(20).Average(), 4), Math.Round(losses.TakeLast(50).Average(), 4),
                Math.Round(clock.Elapsed.TotalSeconds, 1), Path.Combine(folder, ZTokenGeneration.InferencerName));
            if (parse.GetValue(json))
                CliIO.WriteJson(summary);
            else
                Console.Out.WriteLine($"trained the inferencer for {stepCount} steps on {corpus.Length:N0} tokens in {summary.Seconds:F0} s; loss {summary.FirstLoss:F3} → {summary.LastLoss:F3} nats per code symbol; wrote {summary.Output}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command GenerateCommand()
    {
        var directory = new Argument<string>("model") { Description = "A Z-token model folder with an inferencer (`terse ztokens train-inferencer`)." };
        var prompt = new Option<string>("--prompt", "-p") { Description = "Text to continue; its whole segments are coded and read as codes.", Required = true };
        var tokenizer = new Option<string?>("--tokenizer", "-t") { Description = "Tokenizer file, when the model's is not built in." };
        var segments = new Option<int>("--segments") { Description = "Segments to write.", DefaultValueFactory = _ => 4 };
        var threads = EngineThreads.CreateOption();
        var json = new Option<bool>("--json") { Description = "Print one JSON object: the text and the codes." };
        var command = new Command("generate", "Continue a text in Z-space: the inferencer writes the codes of the next segments, the decompressor turns them into text.")
        {
            directory, prompt, tokenizer, segments, threads, json,
        };
        command.SetGuardedAction(parse =>
        {
            EngineThreads.Apply(parse.GetValue(threads));
            int count = parse.GetValue(segments);
            if (count < 1)
                throw new CliException($"--segments must be ≥ 1, got {count}");
            string folder = parse.GetValue(directory)!;
            var (z, vocabulary) = Load(folder, parse.GetValue(tokenizer));
            var generation = ZTokenGeneration.Load(z, folder) ?? throw new CliException($"{folder} has no inferencer: train one with `terse ztokens train-inferencer`");
            var ids = vocabulary.Encode(parse.GetValue(prompt)!);
            if (ids.Length < z.Shape.SegmentLength)
                throw new CliException($"the prompt has {ids.Length} tokens: not one whole segment of {z.Shape.SegmentLength} to read as codes");
            var (text, codes) = generation.Generate(ids, count);
            string written = vocabulary.Decode(text);
            if (parse.GetValue(json))
                CliIO.WriteJson(new { text = written, codes = codes.Select(c => c.Select(id => id - z.Vocabulary.FirstCode).ToArray()).ToArray() });
            else
                Console.Out.WriteLine(written);
            return ExitCodes.Success;
        });
        return command;
    }

    private sealed record InferencerSummary(int Steps, int CorpusTokens, int ContextSegments, double FirstLoss, double LastLoss, double Seconds, string Output);

    private static string Describe(ZTokenStepResult result, List<ZTokenStepResult> recent) =>
        $"loss {Average(recent, r => r.Loss):F3} · recon {Average(recent, r => r.ReconstructionBits):F3} b/t · acc {Average(recent, r => r.TokenAccuracy):P1} · " +
        $"Z len {Average(recent, r => r.MeanCodeLength):F2}" + (float.IsNaN(result.TeacherAccuracy) ? "" : $" · teacher {result.TeacherAccuracy:P0}");

    /// <summary>Null when this run made no update (it resumed a finished training): JSON has no NaN.</summary>
    private static double? Average(List<ZTokenStepResult> results, Func<ZTokenStepResult, float> value) =>
        results.Count == 0 ? null : Math.Round(results.Average(r => (double)value(r)), 4);

    private static (float, float) ParsePair(string text, string option)
    {
        var parts = text.Split(',');
        if (parts.Length != 2 || !float.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out float a)
            || !float.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out float b) || !(a > 0) || !(b > 0))
            throw new CliException($"{option} takes two positive numbers, start,end (got '{text}')");
        return (a, b);
    }

    /// <summary>Loads a saved Z-token model and its tokenizer (the one named in the manifest, or <paramref name="tokenizer"/>, which must match it).</summary>
    internal static (ZTokenModel Model, Tokenizer Tokenizer) Load(string directory, string? tokenizer)
    {
        var manifest = ZTokenModel.ReadManifest(directory);
        var vocabulary = Tokenizers.ResolveFor(new Terse.MetaTokens.TokenizerIdentity(manifest.Tokenizer, Convert.FromHexString(manifest.TokenizerFingerprint)), tokenizer);
        return (ZTokenModel.Load(directory, ModelResolver.Load), vocabulary);
    }

    private static Command EvalCommand()
    {
        var directory = new Argument<string>("model") { Description = "A folder written by `terse ztokens train`." };
        var file = new Argument<string>("file") { Description = "Held-out text (not trained on)." };
        var tokenizer = new Option<string?>("--tokenizer", "-t") { Description = "Tokenizer file, when the model's is not built in." };
        var maxSegments = new Option<int?>("--max-segments") { Description = "Evaluate at most this many segments (from the start)." }.AtLeast(1);
        var noContinuation = new Option<bool>("--no-continuation") { Description = "Skip the continuation experiment." };
        var perSegment = new Option<bool>("--per-segment") { Description = "With --json: include every segment's figures." };
        var threads = EngineThreads.CreateOption();
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var command = new Command("eval", "Held-out evaluation: compression ratio, exact reconstruction, bits per token against the entropy bound, code length vs surprisal, continuation from Z-tokens.")
        {
            directory, file, tokenizer, maxSegments, noContinuation, perSegment, threads, json,
        };
        command.SetGuardedAction(parse =>
        {
            EngineThreads.Apply(parse.GetValue(threads));
            var (z, vocabulary) = Load(parse.GetValue(directory)!, parse.GetValue(tokenizer));
            var bytes = CliIO.ReadAllBytes(parse.GetValue(file));
            var ids = CompressCommands.TokenizeExactly(vocabulary, bytes);
            if (ids.Length < z.Shape.SegmentLength)
                throw new CliException($"the text has {ids.Length} tokens: not one segment of {z.Shape.SegmentLength}");
            var clock = Stopwatch.StartNew();
            var report = ProgressReporter.Run("evaluating", 1000, progress =>
                ZTokenEvaluation.Evaluate(z, ids, parse.GetValue(maxSegments), continuation: !parse.GetValue(noContinuation),
                    progress: new Progress(progress)));
            // The entropy coder with the same base model, on the same tokens (chunks of its window, not segments).
            var entropyModel = new LlamaNextTokenModel(ModelResolver.Load(z.BaseName), z.BaseName);
            var evaluated = ids.AsSpan(0, (int)report.TextTokens);
            double entropyBits = new EntropyCodec(entropyModel, vocabulary).Surprisal(evaluated).Sum() / evaluated.Length;
            var result = new ZTokenEvalResult(report, Math.Round(entropyBits, 4), z.Vocabulary.CodeCount, z.Shape.SegmentLength, Math.Round(clock.Elapsed.TotalSeconds, 1));
            if (parse.GetValue(json))
                CliIO.WriteJson(parse.GetValue(perSegment) ? result : result with { Report = report with { PerSegment = [] } });
            else
                PrintReport(result);
            return ExitCodes.Success;
        });
        return command;
    }

    private static void PrintReport(ZTokenEvalResult result)
    {
        var r = result.Report;
        var o = Console.Out;
        o.WriteLine($"{r.Segments:N0} segments of {result.SegmentLength} tokens ({r.TextTokens:N0} tokens), |Z| = {result.Codes}");
        o.WriteLine($"  ratio {r.Ratio:F2} text tokens per Z-token (mean code {r.MeanCodeLength:F2}); exact from the code alone: {r.ExactRate:P1} of segments; token accuracy {r.TokenAccuracy:P1}");
        o.WriteLine($"  bits/token: Z code {r.CodeBitsPerToken:F3}; lossless payload, estimated (code + residual, or raw) {r.LosslessBitsPerToken:F3}; " +
            $"decompressor cross-entropy after the code {r.ReconstructionBitsPerToken:F3} (after another segment's code {r.ReconstructionBitsPerTokenOtherCode:F3})");
        o.WriteLine($"  entropy bound: base model per segment from BOS {r.SurprisalBitsPerToken:F3}; entropy coder on the same tokens {result.EntropyCoderBitsPerToken:F3}");
        o.WriteLine($"  code length vs surprisal: Pearson {r.SurprisalCodeLengthPearson:F3}, Spearman {r.SurprisalCodeLengthSpearman:F3}");
        foreach (var bin in r.Bins)
            o.WriteLine($"    {bin.Segments,6} segments, surprisal {bin.MeanSurprisalBits,7:F1} bits: code {bin.MeanCodeLength,5:F2}, exact {bin.ExactRate,6:P1}, accuracy {bin.TokenAccuracy,6:P1}");
        if (r.Continuation is { } c)
            o.WriteLine($"  continuation of the next segment (bits/token, {c.Pairs:N0} pairs): nothing {c.Nothing:F3}, full text {c.FullText:F3}, " +
                $"Z-tokens via decompressor {c.ZTokens:F3}, Z-tokens read by the base alone {c.ZTokensBaseOnly:F3}");
    }

    private sealed class Progress(IProgress<long> inner) : IProgress<double>
    {
        public void Report(double value) => inner.Report((long)(Math.Clamp(value, 0, 1) * 1000));
    }
}

/// <summary>What `terse ztokens train` reports (and records in the model's manifest).</summary>
internal sealed record ZTokenTrainingSummary(
    int Steps, int CorpusTokens, double Seconds, ZTokenTrainingSettings Settings, int Codes, int SegmentLength, int MaxCodeLength, int LoraRank,
    double? FirstLoss, double? LastLoss, double? ReconstructionBits, double? TokenAccuracy, double? ExactRate, double? MeanCodeLength, string Output);

/// <summary>What `terse ztokens eval` reports.</summary>
internal sealed record ZTokenEvalResult(ZTokenEvaluationReport Report, double EntropyCoderBitsPerToken, int Codes, int SegmentLength, double Seconds);

/// <summary>
/// <c>-m ztokens</c>: a trained Z-token model as a lossless method (TZTK container, docs/formats.md).
/// Each segment is stored as its Z code when greedy decoding restores it, else as the code with a
/// residual or as its ids, whichever is smaller (--strict: ids).
/// </summary>
internal sealed class ZTokenCompressionMethod : ICompressionMethod
{
    private readonly Option<string?> compressModel = ModelOption();
    private readonly Option<string?> decompressModel = ModelOption();
    private readonly Option<bool> strict = new("--strict") { Description = "ztokens: store a segment whose Z code does not restore it exactly as its ids (no corrections)" };
    private readonly Option<bool> search = new("--search") { Description = "ztokens: where the greedy code is not exact, try longer codes and keep the one stored in the fewest bits (slower: up to --max-code times the work)" };
    private readonly Option<bool> noVerify = CompressCommands.NoVerifyOption;

    public string Name => "ztokens";

    public string Description => $"lossless learned Z-token codes with per-segment fallback (the built-in {BuiltInZTokenModel.Name}, or --ztokens DIR)";

    public IReadOnlyList<Option> CompressOptions => [compressModel, strict, search, noVerify];

    public IReadOnlyList<Option> DecompressOptions => [decompressModel];

    public long ProgressThresholdBytes => 4 * 1024;

    private static Option<string?> ModelOption() => new("--ztokens") { Description = $"ztokens: the folder of a model trained by `terse ztokens train` (default: the built-in {BuiltInZTokenModel.Name})" };

    public bool IsContainer(ReadOnlySpan<byte> data) => ZTokenCompressor.IsContainer(data);

    /// <summary>The folder given with --ztokens, or the built-in model's.</summary>
    private static string ModelFolder(MethodContext context, Option<string?> option) =>
        context.Parse.GetValue(option) ?? BuiltInZTokenModel.Folder;

    public CompressionOutcome Compress(byte[] input, MethodContext context)
    {
        var (model, tokenizer) = ZTokenCommands.Load(ModelFolder(context, compressModel), context.Tokenizer);
        var ids = CompressCommands.TokenizeExactly(tokenizer, input);
        var compressor = new ZTokenCompressor(model, tokenizer, new ZTokenCompressionOptions(Repair: !context.Parse.GetValue(strict), Search: context.Parse.GetValue(search)));
        var (container, report) = compressor.Compress(input, ids, verify: !context.Parse.GetValue(noVerify), context.Progress);
        if (report.Exact == false)
            throw new InvalidOperationException("Z-token coding did not round-trip this input; please report it");
        string summary = $"{report.InputBytes:N0} bytes, {report.InputTokens:N0} tokens in {report.Segments:N0} segments → {report.OutputBytes:N0} bytes " +
            $"({report.BitsPerToken:F3} bits/token); exact codes {report.ExactSegments:N0}, codes with a residual {report.RepairedSegments:N0} ({report.Corrections:N0} tokens greedy decoding misses), " +
            $"raw fallback {report.RawSegments:N0} ({report.FallbackRate:P1})" + (report.Exact == true ? "; round trip checked" : "");
        return new CompressionOutcome(container, report with { }, summary);
    }

    public DecompressionOutcome Decompress(byte[] container, MethodContext context)
    {
        var header = ZTokenCompressor.ReadHeader(container, context.MaxOutputBytes);
        var (model, tokenizer) = ZTokenCommands.Load(ModelFolder(context, decompressModel), context.Tokenizer);
        if (context.Parse.GetValue(decompressModel) is null && !header.ModelIdentity.AsSpan().SequenceEqual(model.Identity))
            throw new CliException($"this file was compressed with another Z-token model than the built-in {BuiltInZTokenModel.Name} ({header.ModelName}): add --ztokens DIR");
        var output = new ZTokenCompressor(model, tokenizer).Decompress(container, context.Progress, context.MaxOutputBytes);
        var report = new DecompressReport(Name, tokenizer.Name, container.Length, header.TokenCount, output.Length);
        return new DecompressionOutcome(output, report, $"ztokens: {container.Length:N0} bytes → {header.TokenCount:N0} tokens → {output.Length:N0} bytes");
    }
}
