using System.Globalization;
using Terse.ZTokens;

namespace Terse.Benchmarks.ZTokens;

/// <summary>
/// <c>ztokens-search MODEL_DIR TEXT [--segments N]</c>: what longer codes buy a trained Z-token
/// model. For the first N segments of the text: the greedy code; the code forced to each minimum
/// length L (the compressor may not stop before L); and the encode-time search
/// (<see cref="ZTokenCodec.EncodeSearch"/>: fewest corrections, then shortest): exact segments, token accuracy, corrections and
/// mean code length of each.
/// </summary>
public static class ZTokenSearchCommand
{
    public static int Run(string[] args)
    {
        if (args.Length < 2)
        {
            Console.Error.WriteLine("usage: ztokens-search MODEL_DIR TEXT [--segments N]");
            return 2;
        }
        int limit = ZTokenBench.IntOption(args, "--segments", 500);
        var (model, tokenizer) = ZTokenBench.Load(args[0]);
        var ids = tokenizer.Encode(File.ReadAllText(args[1]));
        int n = model.Shape.SegmentLength;
        var segments = Enumerable.Range(0, Math.Min(limit, ids.Length / n)).Select(i => ids.AsSpan(i * n, n).ToArray()).ToList();
        var codec = new ZTokenCodec(model);
        Console.WriteLine($"{args[1]}: {segments.Count} segments of {n} tokens; model {args[0]}");
        Console.WriteLine("| code | mean Z-tokens | text tokens per Z-token | exact segments | token accuracy | corrections per segment |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        void Row(string name, Func<int[], (int[] Code, Corrections Corrections)> encode)
        {
            long zTokens = 0, corrections = 0;
            int exact = 0;
            foreach (var segment in segments)
            {
                var (code, fixes) = encode(segment);
                zTokens += code.Length;
                corrections += fixes.Count;
                exact += fixes.Count == 0 ? 1 : 0;
            }
            // A correction is a token greedy decoding got wrong where the decoder was on the right track.
            double tokens = (double)segments.Count * n;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {zTokens / (double)segments.Count:0.00} | {tokens / zTokens:0.00} | {100.0 * exact / segments.Count:0.0} % | {100 * (1 - corrections / tokens):0.0} % | {corrections / (double)segments.Count:0.00} |"));
        }
        Row("greedy", s => { var c = codec.Encode(s); return (c, codec.FindCorrections(c, s)); });
        for (int length = 2; length <= model.Shape.MaxCodeLength; length += 2)
            Row($"at least {length}", s => { var c = codec.Encode(s, length); return (c, codec.FindCorrections(c, s)); });
        Row("search: fewest corrections, then shortest", s =>
        {
            var code = codec.EncodeSearch(s, (candidate, segment) =>
            {
                int fixes = codec.FindCorrections(candidate, segment).Count;
                return (fixes * 100.0 + candidate.Length, fixes == 0);
            });
            return (code, codec.FindCorrections(code, s));
        });
        return 0;
    }
}
