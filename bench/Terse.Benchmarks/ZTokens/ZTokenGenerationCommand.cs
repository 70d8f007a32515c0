using System.Globalization;
using Terse.ZTokens;

namespace Terse.Benchmarks.ZTokens;

/// <summary>
/// <c>ztokens-generation MODEL_DIR TEXT [--segments N] [--time K]</c>: generation in Z-space against
/// text space on held-out text, with a model folder that has an inferencer. For N segments after
/// the inferencer's context: the bits of each greedy code under the inferencer, the decompressor's
/// cross-entropy of the text after its code, and the frozen base's cross-entropy of the same text
/// after the same context as text (bits per text token); then the wall time of writing K segments
/// both ways after the text's first segments.
/// </summary>
public static class ZTokenGenerationCommand
{
    public static int Run(string[] args)
    {
        if (args.Length < 2)
        {
            Console.Error.WriteLine("usage: ztokens-generation MODEL_DIR TEXT [--segments N] [--time K]");
            return 2;
        }
        int Option(string name, int fallback) => ZTokenBench.IntOption(args, name, fallback);
        var (model, tokenizer) = ZTokenBench.Load(args[0]);
        var generation = ZTokenGeneration.Load(model, args[0]) ?? throw new ArgumentException($"{args[0]} has no inferencer");
        var ids = tokenizer.Encode(File.ReadAllText(args[1]));
        var baseModel = Terse.Models.ModelResolver.Load(model.BaseName);
        var figures = generation.Evaluate(ids, baseModel, Option("--segments", 500));
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv, $"{args[1]}: {figures.Segments} segments of {figures.SegmentLength} tokens, each after {figures.ContextSegments} segments of context; model {args[0]}"));
        Console.WriteLine("| bits per text token | value |");
        Console.WriteLine("|---|---:|");
        Console.WriteLine(string.Create(inv, $"| the code under the inferencer (Z-tokens and End) | {figures.CodeBits:0.000} |"));
        Console.WriteLine(string.Create(inv, $"| the same code at log2 |Z| a Z-token | {figures.UniformCodeBits:0.000} |"));
        Console.WriteLine(string.Create(inv, $"| the text after its code (decompressor) | {figures.TextAfterCodeBits:0.000} |"));
        Console.WriteLine(string.Create(inv, $"| **Z-space: code + text after it (an upper bound)** | **{figures.ZSpaceBits:0.000}** |"));
        Console.WriteLine(string.Create(inv, $"| **text space: the base model after the same context as text** | **{figures.TextSpaceBits:0.000}** |"));
        Console.WriteLine(string.Create(inv, $"| autoregressive steps per segment: Z-space / text space | {figures.ZStepsPerSegment:0.00} / {figures.SegmentLength} |"));
        int timed = Option("--time", 16), prompt = generation.ContextSegments * model.Shape.SegmentLength;
        var (z, decode, text) = generation.Time(ids.AsSpan(0, prompt), timed, baseModel);
        Console.WriteLine(string.Create(inv, $"writing {timed} segments ({timed * model.Shape.SegmentLength} tokens) after {prompt} tokens: Z-space {z:0.000} s for the codes + {decode:0.000} s to decode them; text space {text:0.000} s"));
        var (sample, _) = generation.Generate(ids.AsSpan(0, prompt), 4);
        Console.WriteLine($"sample after \"{tokenizer.Decode(ids[(prompt - 16)..prompt])}\": \"{tokenizer.Decode(sample)}\"");
        return 0;
    }
}
