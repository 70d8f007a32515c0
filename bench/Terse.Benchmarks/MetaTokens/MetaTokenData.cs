using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using Terse.Tokenization;

namespace Terse.Benchmarks.MetaTokens;

/// <summary>The shared real texts (../shared/data/text beside the repository) as token ids.</summary>
internal static class MetaTokenData
{
    public static string SharedData { get; } = FindSharedData();

    public static IReadOnlyList<string> TextFiles() =>
        [.. Directory.EnumerateFiles(Path.Combine(SharedData, "text")).Order(StringComparer.Ordinal)];

    public static byte[] ReadBytes(string path)
    {
        if (!path.EndsWith(".gz", StringComparison.Ordinal))
            return File.ReadAllBytes(path);
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var memory = new MemoryStream();
        gzip.CopyTo(memory);
        return memory.ToArray();
    }

    public static string ReadText(string path) => Encoding.UTF8.GetString(ReadBytes(path));

    /// <summary>
    /// Real-text ids: every shared text in file-name order, tokenized with each tokenizer in turn,
    /// concatenated until <paramref name="count"/> ids (a prefix of that stream). The largest id is
    /// returned so the caller can size the base vocabulary.
    /// </summary>
    public static int[] CorpusIds(long count, IReadOnlyList<string> tokenizers, out int vocabulary)
    {
        var ids = new List<int>();
        vocabulary = 0;
        foreach (var name in tokenizers)
        {
            // A built-in name, or a tokenizer file under shared/data.
            var tokenizer = TokenizerRegistry.Load(name.Contains('/') ? Path.Combine(SharedData, name) : name);
            vocabulary = Math.Max(vocabulary, tokenizer.VocabularySize);
            foreach (var file in TextFiles())
            {
                ids.AddRange(tokenizer.Encode(ReadText(file)));
                if (ids.Count >= count)
                    return [.. CollectionsMarshal.AsSpan(ids)[..(int)count]];
            }
        }
        if (ids.Count < count)
            throw new InvalidOperationException($"the shared texts give only {ids.Count} ids with {string.Join(", ", tokenizers)}; asked for {count}");
        return [.. ids];
    }

    private static string FindSharedData()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Terse.slnx")))
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data"));
        throw new InvalidOperationException("repository root (Terse.slnx) not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>CPU time of the calling thread (getrusage RUSAGE_THREAD): robust to other processes sharing the cores.</summary>
internal static class ThreadCpu
{
    [StructLayout(LayoutKind.Sequential)]
    private struct TimeValue
    {
        public long Seconds;
        public long Microseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct ResourceUsage
    {
        public TimeValue User;
        public TimeValue System;
        public long MaxRss, IxRss, IdRss, IsRss, MinFlt, MajFlt, NSwap, InBlock, OuBlock, MsgSnd, MsgRcv, NSignals, NVCsw, NIvCsw;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, out ResourceUsage usage);

    private const int RusageThread = 1;

    public static bool Available { get; } = OperatingSystem.IsLinux() && Probe();

    private static bool Probe()
    {
        try
        {
            return getrusage(RusageThread, out _) == 0;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Seconds of CPU the calling thread has used (user + system), or NaN when unavailable.</summary>
    public static double Seconds()
    {
        if (!Available || getrusage(RusageThread, out var usage) != 0)
            return double.NaN;
        return usage.User.Seconds + usage.System.Seconds + (usage.User.Microseconds + usage.System.Microseconds) / 1e6;
    }
}
