using System.Text;
using System.Text.Json;
using Terse.IO;

namespace Terse.Cli.Infrastructure;

/// <summary>Input from a file or stdin, output to a file (<see cref="AtomicFile"/>) or stdout, and JSON output.</summary>
public static class CliIO
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
    };

    /// <summary>
    /// The largest input a command reads into memory (1 GiB). Larger files and streams are refused
    /// with one line before they fill the memory (docs/formats.md, "Limits").
    /// </summary>
    public const long MaxInputBytes = 1L << 30;

    /// <summary>True for the paths that mean stdout: none, "-", and the names of descriptor 1.</summary>
    public static bool IsStdout(string? path) => path is null or "-" or "/dev/stdout" or "/dev/fd/1" or "/proc/self/fd/1";

    private static bool IsStdin(string? path) => path is null or "-" or "/dev/stdin" or "/dev/fd/0" or "/proc/self/fd/0";

    /// <summary>Reads the whole input: the file, or stdin when <paramref name="path"/> is null or "-".</summary>
    /// <param name="maxBytes">A lower limit than <see cref="MaxInputBytes"/>, for work that needs many bytes per input byte.</param>
    /// <param name="why">Completes "… is larger than N MiB, " when <paramref name="maxBytes"/> is given.</param>
    public static byte[] ReadAllBytes(string? path, long maxBytes = MaxInputBytes, string? why = null)
    {
        using var input = OpenInput(path);
        string name = IsStdin(path) ? "stdin" : path!;
        why ??= "the most a command reads into memory (docs/formats.md, \"Limits\")";
        if (input.CanSeek && input.Length > maxBytes)
            throw TooLarge(name, maxBytes, why);
        return ReadBounded(input, maxBytes, name, why);
    }

    /// <summary>The input as a stream: the file, or stdin when <paramref name="path"/> is null or "-".</summary>
    public static Stream OpenInput(string? path)
    {
        if (IsStdin(path))
            return OpenStdin();
        if (Directory.Exists(path))
            throw new CliException($"{path} is a folder, not a file");
        if (!File.Exists(path))
            throw new CliException($"no such file: {path}");
        return new FileStream(path!, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
    }

    /// <summary>Reads the input as UTF-8 text (invalid sequences become U+FFFD).</summary>
    public static string ReadAllText(string? path) => Encoding.UTF8.GetString(ReadAllBytes(path));

    /// <summary>
    /// Standard input, refused when there is none: a closed descriptor 0 is reused by the runtime for
    /// a pipe of its own, which never ends, so reading it would wait forever.
    /// </summary>
    private static Stream OpenStdin()
    {
        if (StdinIsClosed())
            throw new CliException("stdin is closed: give an input file, or pipe the input in (e.g. < FILE)");
        return Console.OpenStandardInput();
    }

    /// <summary>Writes to the file (<see cref="AtomicFile"/>) or to stdout when <paramref name="path"/> is null, "-" or /dev/stdout.</summary>
    public static void WriteAllBytes(string? path, ReadOnlySpan<byte> data)
    {
        if (IsStdout(path))
        {
            Console.Out.Flush();
            using var stdout = Console.OpenStandardOutput();
            stdout.Write(data);
            stdout.Flush();
            return;
        }
        AtomicFile.WriteAllBytes(path!, data);
    }

    public static void WriteJson<T>(T value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Json));

    private static byte[] ReadBounded(Stream stream, long maxBytes, string name, string why)
    {
        var chunks = new List<byte[]>();
        long total = 0;
        while (true)
        {
            var chunk = new byte[(int)Math.Clamp(total, 1 << 16, 1 << 24)];
            int filled = 0, read;
            while (filled < chunk.Length && (read = stream.Read(chunk, filled, chunk.Length - filled)) > 0)
                filled += read;
            total += filled;
            if (total > maxBytes)
                throw TooLarge(name, maxBytes, why);
            chunks.Add(filled == chunk.Length ? chunk : chunk[..filled]);
            if (filled < chunk.Length)
                break;
        }
        var all = new byte[total];
        long at = 0;
        foreach (var chunk in chunks)
        {
            chunk.CopyTo(all, at);
            at += chunk.Length;
        }
        return all;
    }

    private static CliException TooLarge(string name, long maxBytes, string why) =>
        new($"{name} is larger than {maxBytes >> 20:N0} MiB, {why}");

    /// <summary>True when descriptor 0 is a pipe whose writing end this process holds itself: no data or end will ever come.</summary>
    private static bool StdinIsClosed()
    {
        if (!OperatingSystem.IsLinux())
            return false;
        try
        {
            var stdin = new FileInfo("/proc/self/fd/0");
            if (!stdin.Exists)
                return true;
            if (stdin.LinkTarget is not { } target || !target.StartsWith("pipe:", StringComparison.Ordinal))
                return false;
            foreach (var entry in Directory.EnumerateFiles("/proc/self/fd"))
            {
                var name = Path.GetFileName(entry);
                if (name == "0" || new FileInfo(entry).LinkTarget != target)
                    continue;
                var flags = File.ReadLines($"/proc/self/fdinfo/{name}").FirstOrDefault(l => l.StartsWith("flags:", StringComparison.Ordinal));
                if (flags is not null && (Convert.ToInt32(flags["flags:".Length..].Trim(), 8) & 3) == 1) // O_WRONLY
                    return true;
            }
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return false;
        }
    }
}
