using System.Globalization;
using Terse.EntropyCoding;

namespace Terse.Benchmarks.EntropyCoding;

/// <summary>
/// <c>-- entropy mix-tune --model M [--kb N] FILE… [--variant k=v,…]…</c>: what container version 4's
/// mixer constants were chosen with. Each file is cut and tokenized as compression does, the
/// model's logits of every token are computed once (and cached under /tmp/terse-mixtune), then every
/// variant of the mixer codes the tokens from them, so a variant costs seconds, not a model run.
/// Prints the model alone and each variant in bits/byte per file (the exact cost of each table:
/// the coded streams are within a few bytes per chunk of it). Variant keys, each a field of
/// <see cref="MixerSettings"/>: lr, wm, wmatch, wc (starting weights in units of 1/65536), scale,
/// short, long, limit, orders (colon-separated), inputs (lm, match, counts joined by +). --chunk
/// sets the chunk size in bytes.
/// </summary>
internal static class MixerTuning
{
    public static int Run(string[] args)
    {
        string model = "terse1M";
        int kb = 100;
        int? chunk = null;
        var files = new List<string>();
        var variants = new List<string>();
        for (int i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--model": model = args[++i]; break;
                case "--kb": kb = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--variant": variants.Add(args[++i]); break;
                case "--chunk": chunk = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default: files.Add(args[i]); break;
            }
        }
        if (variants.Count == 0)
            variants.Add("");
        var resolved = EntropyCompression.ResolveModel(model);
        var tokenizer = EntropyCompression.ResolveTokenizer(null, model, resolved);
        var codec = new EntropyCodec(resolved, tokenizer, new EntropyCodecOptions(ChunkBytes: chunk));
        var inputs = files.Select(f => Cached(codec, resolved, model, f, kb * 1000)).ToArray();

        Console.WriteLine("| variant | " + string.Join(" | ", files.Select(Path.GetFileName)) + " | all |");
        Console.WriteLine("|---|" + string.Concat(Enumerable.Repeat("---:|", files.Count + 1)));
        Row("model alone", inputs, null, resolved.VocabularySize);
        foreach (var variant in variants)
            Row(variant.Length == 0 ? "version 4" : variant, inputs, Parse(variant), resolved.VocabularySize);
        return 0;
    }

    private sealed record Input(int Bytes, int[][] Tokens, float[][] Logits);

    private static void Row(string label, Input[] inputs, MixerSettings? settings, int vocabulary)
    {
        var bits = new double[inputs.Length];
        Parallel.For(0, inputs.Length, new ParallelOptions { MaxDegreeOfParallelism = 2 }, f =>
        {
            var table = new FrequencyTable(vocabulary);
            var mixer = settings is null ? null : new TokenMixer(vocabulary, settings);
            var input = inputs[f];
            for (int c = 0; c < input.Tokens.Length; c++)
            {
                var tokens = input.Tokens[c];
                mixer?.Start();
                for (int i = 0; i < tokens.Length; i++)
                {
                    var logits = input.Logits[c].AsSpan(i * vocabulary, vocabulary);
                    if (mixer is null)
                        table.SetFromLogits(logits);
                    else
                        mixer.SetTable(table, logits, 0);
                    bits[f] += table.CostBits(tokens[i]);
                    mixer?.Update(table, tokens[i]);
                }
            }
        });
        double total = bits.Sum(), bytes = inputs.Sum(i => (double)i.Bytes);
        Console.WriteLine($"| {label} | " + string.Join(" | ", bits.Select((b, f) => (b / inputs[f].Bytes).ToString("F4", CultureInfo.InvariantCulture))) +
            $" | {(total / bytes).ToString("F4", CultureInfo.InvariantCulture)} |");
    }

    private static MixerSettings Parse(string variant)
    {
        var s = MixerSettings.Version4;
        foreach (var pair in variant.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var (key, value) = (pair[..pair.IndexOf('=')], pair[(pair.IndexOf('=') + 1)..]);
            int Int() => int.Parse(value, CultureInfo.InvariantCulture);
            s = key switch
            {
                "lr" => s with { LearningRate = Int() },
                "wm" => s with { ModelWeight = Int() },
                "wmatch" => s with { MatchWeight = Int() },
                "wc" => s with { CountWeight = Int() },
                "orders" => s with { Orders = value.Split(':').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray() },
                "scale" => s with { CountScale = Int() },
                "short" => s with { MatchShortOrder = Int() },
                "long" => s with { MatchLongOrder = Int() },
                "limit" => s with { HitRateLimit = Int() },
                "inputs" => s with { Inputs = value.Split('+').Aggregate((MixerInputs)0, (a, v) => a | v switch
                {
                    "lm" => MixerInputs.LanguageModel, "match" => MixerInputs.Match, "counts" => MixerInputs.Counts,
                    _ => throw new ArgumentException($"unknown input {v}"),
                }) },
                _ => throw new ArgumentException($"unknown variant key {key}"),
            };
        }
        return s;
    }

    /// <summary>The file's chunks, tokens and the model's logits for each token (as the coder's sliding context gives them).</summary>
    private static Input Cached(EntropyCodec codec, LlamaNextTokenModel model, string name, string file, int limit)
    {
        var bytes = File.ReadAllBytes(file);
        bytes = bytes.AsSpan(0, Math.Min(limit, bytes.Length)).ToArray();
        var prepared = codec.Prepare(bytes);
        int vocabulary = model.VocabularySize;
        string cache = Path.Combine("/tmp/terse-mixtune", $"{name}-{limit}-{prepared.ChunkCount}-{Path.GetFileName(file)}-{Convert.ToHexStringLower(model.Identity)[..12]}.bin");
        var tokens = prepared.Chunks.Select(c => c.Segmented.Tokens.ToArray()).ToArray();
        var logits = new float[tokens.Length][];
        if (File.Exists(cache))
        {
            using var reader = new BinaryReader(File.OpenRead(cache));
            for (int c = 0; c < tokens.Length; c++)
            {
                logits[c] = new float[tokens[c].Length * vocabulary];
                reader.Read(System.Runtime.InteropServices.MemoryMarshal.AsBytes(logits[c].AsSpan()));
            }
            return new Input(bytes.Length, tokens, logits);
        }
        var policy = new ContextPolicy(model.MaxSessionTokens, (int)(model.MaxSessionTokens * EntropyCodec.DefaultCarryFraction));
        Parallel.For(0, tokens.Length, new ParallelOptions { MaxDegreeOfParallelism = 2 }, c =>
        {
            using var session = model.CreateSession();
            var context = new SlidingContext(session, policy);
            context.Start();
            var chunk = tokens[c];
            logits[c] = new float[chunk.Length * vocabulary];
            for (int i = 0; i < chunk.Length; i++)
            {
                context.NextLogits().CopyTo(logits[c].AsSpan(i * vocabulary));
                if (i + 1 < chunk.Length)
                    context.Accept(chunk.AsSpan(0, i + 1));
            }
        });
        Directory.CreateDirectory(Path.GetDirectoryName(cache)!);
        using (var writer = new BinaryWriter(File.Create(cache)))
            foreach (var l in logits)
                writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(l.AsSpan()));
        return new Input(bytes.Length, tokens, logits);
    }
}
