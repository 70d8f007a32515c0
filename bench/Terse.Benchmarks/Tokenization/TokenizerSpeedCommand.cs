using System.Diagnostics;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Terse.Tokenization;

namespace Terse.Benchmarks.Tokenization;

/// <summary>
/// Encode throughput of Terse's cl100k_base and o200k_base against the npm package tiktoken
/// (OpenAI's Rust core as WASM) on the same texts in the same run, one thread each, after checking
/// that both give identical ids:
///   tokenizer-speed [--repeats N] [--encodings a,b] [FILE…]   (default: every file in ../shared/data/text)
/// </summary>
internal static class TokenizerSpeedCommand
{
    public static int Run(string[] args)
    {
        int repeats = 5;
        var encodings = new[] { "cl100k_base", "o200k_base" };
        var files = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--repeats")
                repeats = int.Parse(args[++i]);
            else if (args[i] == "--encodings")
                encodings = args[++i].Split(',');
            else
                files.Add(Path.GetFullPath(args[i]));
        }
        var root = RepositoryRoot();
        if (files.Count == 0)
            files.AddRange(Directory.GetFiles(Path.Combine(root, "..", "shared", "data", "text")).Order(StringComparer.Ordinal));
        var nodeDirectory = Path.Combine(root, "bench", "tiktoken-node");
        EnsureNodePackage(nodeDirectory);

        var texts = files.Select(ReadText).ToArray();
        long bytes = texts.Sum(t => (long)Encoding.UTF8.GetByteCount(t));
        Console.WriteLine($"{files.Count} files, {bytes:N0} bytes of UTF-8; best of {repeats} runs, one thread each");
        Console.WriteLine($"machine: {Environment.ProcessorCount} logical cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, " +
            $"{System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}, load average {LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine($"{"encoding",-12} {"Terse MB/s",11} {"tiktoken MB/s",14} {"ratio",7}  ids");
        bool allIdentical = true;
        foreach (var encoding in encodings)
        {
            var node = RunNode(nodeDirectory, encoding, repeats, files);
            var tokenizer = TokenizerRegistry.Load(encoding);
            var (seconds, tokens, hash) = Measure(tokenizer, texts, repeats);
            bool identical = tokens == node.GetProperty("tokens").GetInt64() && hash == node.GetProperty("ids_sha256").GetString();
            allIdentical &= identical;
            double ours = bytes / 1e6 / seconds;
            double theirs = node.GetProperty("bytes").GetInt64() / 1e6 / node.GetProperty("seconds").GetDouble();
            Console.WriteLine($"{encoding,-12} {ours,11:F1} {theirs,14:F1} {ours / theirs,6:F2}x  {(identical ? "identical" : "DIFFERENT")} ({tokens:N0} tokens)");
        }
        Console.WriteLine($"tiktoken {NodePackageVersion(nodeDirectory)} on node {NodeVersion()}");
        return allIdentical ? 0 : 1;
    }

    private static (double Seconds, long Tokens, string Hash) Measure(Tokenizer tokenizer, string[] texts, int repeats)
    {
        var ids = new List<int>(1 << 20);
        long tokens = 0;
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var text in texts)
        {
            ids.Clear();
            tokenizer.Encode(text, ids, EncodeOptions.Default);
            tokens += ids.Count;
            var buffer = new byte[ids.Count * 4];
            for (int i = 0; i < ids.Count; i++)
                BitConverter.TryWriteBytes(buffer.AsSpan(i * 4), ids[i]);
            sha.AppendData(buffer);
        }
        double best = double.MaxValue;
        for (int r = 0; r < repeats; r++)
        {
            var watch = Stopwatch.StartNew();
            foreach (var text in texts)
            {
                ids.Clear();
                tokenizer.Encode(text, ids, EncodeOptions.Default);
            }
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        return (best, tokens, Convert.ToHexStringLower(sha.GetHashAndReset()));
    }

    private static JsonElement RunNode(string directory, string encoding, int repeats, List<string> files)
    {
        var output = Process("node", directory, ["tiktoken-reference.mjs", "speed", encoding, repeats.ToString(), .. files]);
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    private static void EnsureNodePackage(string directory)
    {
        if (Directory.Exists(Path.Combine(directory, "node_modules", "tiktoken")))
            return;
        Console.Error.WriteLine($"installing the npm tiktoken package in {directory} …");
        Process("npm", directory, ["install", "--no-audit", "--no-fund"]);
    }

    private static string NodePackageVersion(string directory) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "node_modules", "tiktoken", "package.json"))).RootElement.GetProperty("version").GetString()!;

    private static string NodeVersion() => Process("node", ".", ["--version"]).Trim();

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static string Process(string program, string directory, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(program, arguments) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = System.Diagnostics.Process.Start(start) ?? throw new InvalidOperationException($"cannot start {program}");
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {error.Result}");
        return output;
    }

    internal static string ReadText(string path)
    {
        if (!path.EndsWith(".gz", StringComparison.Ordinal))
            return File.ReadAllText(path, Encoding.UTF8);
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Terse.slnx")))
                return dir.FullName;
        throw new InvalidOperationException("cannot find the repository root (Terse.slnx)");
    }
}
