using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using Terse.EntropyCoding;
using Terse.Neural.Numerics;
using Terse.Tokenization;
using Terse.Tokenization.Llama2c;
using Terse.Tokenization.SentencePiece;

namespace Terse.Benchmarks.EntropyCoding;

/// <summary>
/// <c>-- entropy table [--kb N]</c>: bits/byte of the entropy coder (the default model and
/// stories260K, with and without the mixer) against xz -9, zstd -19, brotli -q 11 and bzip2 -9 on
/// the shared texts and one text from outside shared/, every round trip checked; chunks packed with
/// Brotli or stored verbatim are counted. <c>-- entropy mix-tune</c>: see <see cref="MixerTuning"/>. <c>-- entropy speed [--kb N] [--model M]</c>: compress and decompress tokens/s and bytes/s with
/// a built-in model (stories260K unless given) on one and two cores, with xz -9 timed on the same input as the reference.
/// <c>-- entropy overhead [--kb N]</c>: coded size against the model's exact surprisal.
/// <c>-- entropy context [--kb N]</c>: container size against chunk size and sliding-window carry.
/// Run through <c>scripts/entropy-bench.sh</c>, which installs the reference compressors.
/// </summary>
internal static class EntropyComparison
{
    /// <summary>
    /// The table's texts: a file of shared/data/text is read as its held-out split (documents no
    /// model here trained on, as in "The default model" of docs/results.md); any other path, from
    /// outside shared/, as it is.
    /// </summary>
    private static readonly (string Label, string File)[] Texts =
    [
        ("TinyStories (held-out)", "text/tinystories_valid_head.txt"),
        ("WikiText-2 (held-out)", "text/wikitext2_raw_test.txt"),
        ("CNN/DailyMail (held-out)", "text/cnndm_test100.source"),
        ("logs: HDFS (held-out)", "text/loghub_HDFS_2k.log"),
        ("logs: OpenSSH (held-out)", "text/loghub_OpenSSH_2k.log"),
        ("code: HumanEval (held-out)", "text/humaneval.jsonl.gz"),
        // Written by no one here and not in shared/: text outside every model's domain.
        ("Debian docs: dpkg changelog", "/usr/share/doc/dpkg/changelog.gz"),
        ("Python: argparse.py (3.11)", "/usr/lib/python3.11/argparse.py"),
    ];

    /// <summary>The first <paramref name="limit"/> bytes of a table text, cut back to a character boundary.</summary>
    private static byte[] TableText(string file, int limit)
    {
        byte[] all;
        if (file.StartsWith("text/", StringComparison.Ordinal))
        {
            var source = Terse.Corpora.TextCorpus.Sources.Single(s => s.FileName == file["text/".Length..]);
            var documents = Terse.Corpora.TextCorpus.Documents(SharedPath("text"), source, Terse.Corpora.Split.HeldOut);
            all = System.Text.Encoding.UTF8.GetBytes(string.Concat(documents.Select(d => d.Text)));
        }
        else
        {
            all = Head(file, int.MaxValue);
        }
        int cut = Math.Min(limit, all.Length);
        while (cut < all.Length && cut > 0 && (all[cut] & 0xC0) == 0x80)
            cut--;
        return all[..cut];
    }

    private static readonly (string Name, string Arguments)[] References =
    [
        ("xz -9", "xz -9 -c"),
        ("zstd -19", "zstd -19 -c -q"),
        ("brotli -q 11", "brotli -q 11 -c"),
        ("bzip2 -9", "bzip2 -9 -c"),
    ];

    public static int Run(string[] args)
    {
        int kbAt = Array.IndexOf(args, "--kb");
        int kb = kbAt >= 0 ? int.Parse(args[kbAt + 1], CultureInfo.InvariantCulture) : 100;
        string what = args.Length > 0 ? args[0] : "table";
        switch (what)
        {
            case "table":
                Table(kb * 1000);
                return 0;
            case "speed":
                int modelAt = Array.IndexOf(args, "--model");
                Speed(kb * 1000, modelAt >= 0 ? args[modelAt + 1] : "stories260K");
                return 0;
            case "overhead":
                Overhead(kb * 1000);
                return 0;
            case "roundtrip":
                RoundTripAll(kb * 1000);
                return 0;
            case "mix-tune":
                return MixerTuning.Run(args);
            case "context":
                int fileAt = Array.IndexOf(args, "--file");
                ContextPolicies(kb * 1000, fileAt >= 0 ? args[fileAt + 1] : "text/tinystories_valid_head.txt");
                return 0;
            default:
                Console.Error.WriteLine($"unknown entropy benchmark '{what}' (table, speed, overhead, roundtrip, context, mix-tune)");
                return 1;
        }
    }

    private static (string Name, INextTokenModel Model, Tokenizer Tokenizer)[] Models() =>
    [
        ("stories260K", LlamaNextTokenModel.Stories260K, Llama2cTokenizer.Stories260K),
        ("BabyLlama", LlamaNextTokenModel.LoadLlama2c(SharedPath("models/babyllama_tok105_model5000.bin")),
            SentencePieceTokenizer.Load(SharedPath("models/babyllama_tok105.model"))),
    ];

    /// <summary>The acceptance round trip: every file of shared/data/text (its first <paramref name="limit"/> bytes), both models.</summary>
    private static void RoundTripAll(int limit)
    {
        var models = Models();
        Console.WriteLine("| file | bytes | " + string.Join(" | ", models.Select(m => $"{m.Name} bits/byte | {m.Name} Brotli + stored | {m.Name} escaped bytes | {m.Name} exact")) + " |");
        Console.WriteLine("|---|---:|" + string.Concat(Enumerable.Repeat("---:|---:|---:|---|", models.Length)));
        var folder = SharedPath("text");
        foreach (var path in Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal))
        {
            var input = Head("text/" + Path.GetFileName(path), limit);
            var cells = new List<string> { Path.GetFileName(path), input.Length.ToString("N0", CultureInfo.InvariantCulture) };
            foreach (var (_, model, tokenizer) in models)
            {
                var codec = new EntropyCodec(model, tokenizer);
                var result = codec.Compress(input);
                bool exact = codec.Decompress(result.Container).AsSpan().SequenceEqual(input);
                cells.Add(result.BitsPerByte.ToString("F3", CultureInfo.InvariantCulture));
                cells.Add($"{result.BrotliChunks} + {result.StoredChunks} of {result.Chunks}");
                cells.Add(result.RawBytes.ToString("N0", CultureInfo.InvariantCulture));
                cells.Add(exact ? "yes" : "**NO**");
            }
            Console.WriteLine("| " + string.Join(" | ", cells) + " |");
        }
    }

    /// <summary>
    /// The default model (the mixer's container, version 4, and the model alone, version 3) and
    /// stories260K against the reference compressors; files missing on this machine are skipped.
    /// </summary>
    private static void Table(int limit)
    {
        (string Name, INextTokenModel Model, Tokenizer Tokenizer)[] models =
        [
            (EntropyCompression.DefaultModel, EntropyCompression.ResolveModel(null), EntropyCompression.ResolveTokenizer(null, null, EntropyCompression.ResolveModel(null))),
            ("stories260K", LlamaNextTokenModel.Stories260K, Llama2cTokenizer.Stories260K),
        ];
        Console.WriteLine($"First {limit / 1000} KB of each text; bits per input byte (lower is better), whole containers. \"v4\" mixes the model with the chunk's " +
            "match model and token counts, \"v3\" is the model alone; \"Brotli + stored\" counts v4's chunks packed with Brotli and kept verbatim. " +
            "\"÷ best\" is v4 over the smallest reference.");
        Console.WriteLine();
        Console.WriteLine("| text | bytes | " + string.Join(" | ", models.Select(m => $"{m.Name} v3 | {m.Name} v4 | {m.Name} Brotli + stored | {m.Name} ÷ best")) + " | " +
            string.Join(" | ", References.Select(r => r.Name)) + " | all exact |");
        Console.WriteLine("|---|---:|" + string.Concat(Enumerable.Repeat("---:|---:|---:|---:|", models.Length)) + string.Concat(Enumerable.Repeat("---:|", References.Length)) + "---|");
        foreach (var (label, file) in Texts)
        {
            if (!File.Exists(SharedPath(file)))
            {
                Console.Error.WriteLine($"skipped {label}: {SharedPath(file)} is missing");
                continue;
            }
            var input = TableText(file, limit);
            var references = References.Select(r => 8.0 * RunReference(r.Arguments, input).Output.Length / input.Length).ToArray();
            double best = references.Min();
            var cells = new List<string> { label, input.Length.ToString("N0", CultureInfo.InvariantCulture) };
            bool exact = true;
            foreach (var (_, model, tokenizer) in models)
            {
                var alone = new EntropyCodec(model, tokenizer, new EntropyCodecOptions(FormatVersion: 3)).Compress(input);
                var codec = new EntropyCodec(model, tokenizer);
                var result = codec.Compress(input);
                exact &= codec.Decompress(result.Container).AsSpan().SequenceEqual(input);
                cells.Add(alone.BitsPerByte.ToString("F3", CultureInfo.InvariantCulture));
                cells.Add(result.BitsPerByte.ToString("F3", CultureInfo.InvariantCulture));
                cells.Add($"{result.BrotliChunks} + {result.StoredChunks} of {result.Chunks}");
                cells.Add((result.BitsPerByte / best).ToString("F3", CultureInfo.InvariantCulture));
            }
            cells.AddRange(references.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)));
            cells.Add(exact ? "yes" : "**NO**");
            Console.WriteLine("| " + string.Join(" | ", cells) + " |");
        }
    }

    private static void Speed(int limit, string modelName)
    {
        var input = Head("text/tinystories_valid_head.txt", limit);
        var model = EntropyCompression.ResolveModel(modelName);
        var tokenizer = EntropyCompression.ResolveTokenizer(null, modelName, model);
        Console.WriteLine($"{model.Name} on the first {input.Length:N0} bytes of TinyStories validation; best of 3 runs each.");
        Console.WriteLine();
        Console.WriteLine("| setting | tokens | compress tokens/s | compress bytes/s | decompress tokens/s | decompress bytes/s |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        int savedThreads = Compute.Threads;
        try
        {
            // Version 3 (the model alone) beside version 4 (mixed), so the mixer's cost is timed in the same session.
            foreach (int version in new[] { 3, EntropyContainer.Version })
            foreach (int cores in new[] { 1, 2 })
            {
                Compute.Threads = cores;
                var codec = new EntropyCodec(model, tokenizer, new EntropyCodecOptions(cores, FormatVersion: version));
                var prepared = codec.Prepare(input);
                var container = codec.Compress(prepared).Container; // warm-up
                double compress = Best(() => codec.Compress(prepared));
                double decompress = Best(() =>
                {
                    if (!codec.Decompress(container).AsSpan().SequenceEqual(input))
                        throw new InvalidOperationException("round trip failed");
                });
                int tokens = prepared.TokenCount;
                Console.WriteLine($"| version {version}, {cores} core{(cores > 1 ? "s" : "")} (chunks in parallel: {cores}, engine threads: {cores}) | {tokens:N0} | " +
                    $"{tokens / compress:N0} | {input.Length / compress:N0} | {tokens / decompress:N0} | {input.Length / decompress:N0} |");
            }
        }
        finally
        {
            Compute.Threads = savedThreads;
        }
        var xz = RunReference("xz -9 -c", input);
        var xzBack = Stopwatch.StartNew();
        RunProcess("xz -d -c", xz.Output);
        double xzDecompress = xzBack.Elapsed.TotalSeconds;
        Console.WriteLine($"| reference: xz -9 (one core, process start included) | | | {input.Length / xz.Seconds:N0} | | {input.Length / xzDecompress:N0} |");
    }

    /// <summary>What the coder and the container add to the model's exact −log2 p (stories260K, TinyStories).</summary>
    private static void Overhead(int limit)
    {
        var input = Head("text/tinystories_valid_head.txt", limit);
        var codec = new EntropyCodec(LlamaNextTokenModel.Stories260K, Llama2cTokenizer.Stories260K);
        var result = codec.Compress(input);
        double surprisal = codec.Surprisal(input).TotalBits;
        double extra = result.CodedBytes * 8.0 - surprisal;
        if (result.StoredChunks + result.BrotliChunks > 0)
            throw new InvalidOperationException("a chunk of TinyStories was stored or packed with Brotli: the overhead below would not be the coder's");
        var header = EntropyContainer.Read(result.Container).Header;
        int table = header.Chunks.Sum(c => c.TableBytes);
        Console.WriteLine($"{input.Length:N0} bytes, {result.InputTokens:N0} tokens, {result.Chunks} chunks: coded {result.CodedBytes * 8:N0} bits, " +
            $"exact surprisal {surprisal:N1} bits, coder overhead {extra:N1} bits ({extra / result.Chunks:F2} per chunk, {100 * extra / surprisal:F2} %); " +
            $"container {result.OutputBytes:N0} bytes = {result.CodedBytes:N0} coded + {table} chunk table + {result.OutputBytes - result.CodedBytes - table} header and checksums");
    }

    /// <summary>
    /// The cold-start trade-off (stories260K, held-out TinyStories): container size against chunk
    /// size (each chunk starts from an empty context) and the carry of the sliding window (what
    /// the model keeps when its window is full), with the model work each costs.
    /// </summary>
    private static void ContextPolicies(int limit, string file)
    {
        var input = Head(file, limit);
        var model = LlamaNextTokenModel.Stories260K;
        var tokenizer = Llama2cTokenizer.Stories260K;
        int window = model.MaxSessionTokens;
        int carry = (int)(window * EntropyCodec.DefaultCarryFraction);
        Console.WriteLine($"stories260K, first {input.Length:N0} bytes of {file}; window {window} tokens, default carry {carry}.");
        Console.WriteLine();
        Console.WriteLine("| chunk bytes | carry | chunks | tokens | model positions fed | container bytes | bits/byte | compress seconds |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        (int Chunk, int Carry)[] settings =
        [
            (16384, 0), (16384, 32), (16384, 64), (16384, carry), (16384, 256), (16384, 384),
            (1024, 0), (4096, carry), (8192, carry), (32768, carry), (65536, carry),
        ];
        foreach (var (chunk, carried) in settings)
        {
            var codec = new EntropyCodec(model, tokenizer, new EntropyCodecOptions(CarryTokens: carried, ChunkBytes: chunk));
            var prepared = codec.Prepare(input);
            var clock = Stopwatch.StartNew();
            var result = codec.Compress(prepared);
            double seconds = clock.Elapsed.TotalSeconds;
            var policy = new ContextPolicy(window, carried);
            long positions = prepared.Chunks.Sum(c => policy.PositionsFed(c.Segmented.Tokens.Length));
            Console.WriteLine($"| {chunk:N0} | {carried} | {result.Chunks} | {result.InputTokens:N0} | {positions:N0} | {result.OutputBytes:N0} | " +
                $"{result.BitsPerByte:F4} | {seconds:F1} |");
        }
    }

    private static double Best(Action action)
    {
        double best = double.MaxValue;
        for (int i = 0; i < 3; i++)
        {
            var clock = Stopwatch.StartNew();
            action();
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        return best;
    }

    private static (byte[] Output, double Seconds) RunReference(string command, byte[] input)
    {
        var clock = Stopwatch.StartNew();
        var output = RunProcess(command, input);
        return (output, clock.Elapsed.TotalSeconds);
    }

    private static byte[] RunProcess(string command, byte[] input)
    {
        var parts = command.Split(' ');
        var start = new ProcessStartInfo(parts[0]) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in parts[1..])
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {parts[0]}");
        var reading = Task.Run(() =>
        {
            using var memory = new MemoryStream();
            process.StandardOutput.BaseStream.CopyTo(memory);
            return memory.ToArray();
        });
        process.StandardInput.BaseStream.Write(input);
        process.StandardInput.Close();
        var output = reading.Result;
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{command} exited with {process.ExitCode}");
        return output;
    }

    private static byte[] Head(string file, int limit)
    {
        var path = SharedPath(file);
        byte[] all;
        if (path.EndsWith(".gz", StringComparison.Ordinal))
        {
            using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
            using var memory = new MemoryStream();
            gzip.CopyTo(memory);
            all = memory.ToArray();
        }
        else
        {
            all = File.ReadAllBytes(path);
        }
        return all.AsSpan(0, Math.Min(limit, all.Length)).ToArray();
    }

    private static string SharedPath(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Terse.slnx")))
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data", relative));
        throw new InvalidOperationException("cannot find the repository root (Terse.slnx)");
    }
}
