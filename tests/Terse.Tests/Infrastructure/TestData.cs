using System.IO.Compression;

namespace Terse.Tests.Infrastructure;

/// <summary>
/// Locates the shared real data (<c>../shared/data</c> next to the repository) and the repository
/// itself. Missing data is a failure, not a skip: CI has it, and a silent skip would hide a regression.
/// </summary>
public static class TestData
{
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string SharedDataRoot { get; } = System.IO.Path.GetFullPath(System.IO.Path.Combine(RepositoryRoot, "..", "shared", "data"));

    /// <summary>Full path of a file under shared/data, e.g. <c>Path("tokenizers/cl100k_base.tiktoken")</c>.</summary>
    public static string Path(string relative)
    {
        var full = System.IO.Path.Combine(SharedDataRoot, relative);
        if (!File.Exists(full))
            throw new FileNotFoundException($"test data missing: {full} (the repository expects ../shared/data beside it)");
        return full;
    }

    /// <summary>Bytes of a shared data file, transparently gunzipped when the name ends in .gz.</summary>
    public static byte[] ReadBytes(string relative)
    {
        var full = Path(relative);
        if (!full.EndsWith(".gz", StringComparison.Ordinal))
            return File.ReadAllBytes(full);
        using var gzip = new GZipStream(File.OpenRead(full), CompressionMode.Decompress);
        using var memory = new MemoryStream();
        gzip.CopyTo(memory);
        return memory.ToArray();
    }

    public static string ReadText(string relative) => System.Text.Encoding.UTF8.GetString(ReadBytes(relative));

    /// <summary>All files in shared/data/text, by relative path ("text/…").</summary>
    public static IEnumerable<string> TextFiles() =>
        Directory.EnumerateFiles(System.IO.Path.Combine(SharedDataRoot, "text"))
            .Select(f => "text/" + System.IO.Path.GetFileName(f))
            .Order(StringComparer.Ordinal);

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Terse.slnx")))
                return dir.FullName;
        throw new InvalidOperationException("cannot find the repository root (Terse.slnx) above " + AppContext.BaseDirectory);
    }
}
