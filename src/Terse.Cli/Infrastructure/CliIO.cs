using System.Text;
using System.Text.Json;
using Terse.IO;

namespace Terse.Cli.Infrastructure;

/// <summary>Input from a file or stdin, output to a file (atomically) or stdout, and JSON output.</summary>
public static class CliIO
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
    };

    /// <summary>Reads the whole input: the file, or stdin when <paramref name="path"/> is null or "-".</summary>
    public static byte[] ReadAllBytes(string? path)
    {
        if (path is null or "-")
        {
            using var stdin = Console.OpenStandardInput();
            using var memory = new MemoryStream();
            stdin.CopyTo(memory);
            return memory.ToArray();
        }
        if (!File.Exists(path))
            throw new CliException($"no such file: {path}");
        return File.ReadAllBytes(path);
    }

    /// <summary>Reads the input as UTF-8 text (invalid sequences become U+FFFD).</summary>
    public static string ReadAllText(string? path) => Encoding.UTF8.GetString(ReadAllBytes(path));

    /// <summary>Writes to the file atomically (temp + rename) or to stdout when <paramref name="path"/> is null or "-".</summary>
    public static void WriteAllBytes(string? path, ReadOnlySpan<byte> data)
    {
        if (path is null or "-")
        {
            using var stdout = Console.OpenStandardOutput();
            stdout.Write(data);
            stdout.Flush();
            return;
        }
        AtomicFile.WriteAllBytes(path, data);
    }

    public static void WriteJson<T>(T value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Json));
}
