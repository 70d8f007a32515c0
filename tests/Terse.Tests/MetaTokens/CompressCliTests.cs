using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Terse.Tests.Infrastructure;

namespace Terse.Tests.MetaTokens;

/// <summary>The CLI as a user runs it: the built Terse.Cli.dll in a child process (no shared Console state).</summary>
public class CompressCliTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("terse-cli-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    internal static (int Exit, string Out, string Err) Terse(byte[]? stdin, params string[] args) =>
        Terse(stdin, new Dictionary<string, string>(), args);

    /// <param name="environment">Variables set in the child's environment (e.g. <c>DOTNET_EnableHWIntrinsic=0</c>).</param>
    internal static (int Exit, string Out, string Err) Terse(byte[]? stdin, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment)
            start.Environment[name] = value;
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Terse.Cli.dll"));
        foreach (var a in args)
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = new MemoryStream();
        var copyOut = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        var err = process.StandardError.ReadToEndAsync();
        try
        {
            if (stdin is not null)
                process.StandardInput.BaseStream.Write(stdin);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // terse stopped reading (it refused the input): what it printed is the result.
        }
        if (!process.WaitForExit(120_000))
        {
            process.Kill();
            throw new TimeoutException("terse did not finish: " + string.Join(' ', args));
        }
        copyOut.Wait();
        return (process.ExitCode, Encoding.UTF8.GetString(stdout.ToArray()), err.Result);
    }

    private string PathOf(string name) => Path.Combine(folder, name);

    [Fact]
    public void CompressAndDecompressRestoreTheExactBytesOfFilesAndPipes()
    {
        var log = TestData.ReadBytes("text/loghub_OpenSSH_2k.log")[..60_000];
        File.WriteAllBytes(PathOf("in.log"), log);
        var (exit, output, err) = Terse(null, "compress", PathOf("in.log"), "-o", PathOf("a.tmtk"), "--json");
        Assert.True(exit == 0, err);
        using var report = JsonDocument.Parse(output);
        var root = report.RootElement;
        long inputTokens = root.GetProperty("input_tokens").GetInt64();
        long outputTokens = root.GetProperty("output_tokens").GetInt64();
        Assert.Equal("gain", root.GetProperty("strategy").GetString());
        Assert.True(outputTokens < inputTokens * 0.7, output);
        Assert.Equal((double)outputTokens / inputTokens, root.GetProperty("ratio").GetDouble(), 9);
        Assert.Equal(1 - Math.Pow((double)outputTokens / inputTokens, 2), root.GetProperty("attention_saving").GetDouble(), 9);
        Assert.Equal(outputTokens, root.GetProperty("body_tokens").GetInt64() + root.GetProperty("dictionary_tokens").GetInt64());

        Assert.Equal(0, Terse(null, "decompress", PathOf("a.tmtk"), "-o", PathOf("a.out")).Exit);
        Assert.Equal(log, File.ReadAllBytes(PathOf("a.out")));

        // Greedy, and stdin to stdout (a container is binary: go through files to compare bytes).
        Assert.Equal(0, Terse(log, "compress", "--strategy", "greedy", "-o", PathOf("b.tmtk")).Exit);
        var (gExit, gOut, _) = Terse(null, "decompress", PathOf("b.tmtk"));
        Assert.Equal(0, gExit);
        Assert.Equal(Encoding.UTF8.GetString(log), gOut);
    }

    [Fact]
    public void InvalidUtf8GoesThroughByteFallback()
    {
        var bytes = new byte[3000];
        new Random(3).NextBytes(bytes);
        File.WriteAllBytes(PathOf("bin"), bytes);
        Assert.Equal(0, Terse(null, "compress", PathOf("bin"), "-o", PathOf("bin.tmtk"), "--hierarchical").Exit);
        Assert.Equal(0, Terse(null, "decompress", PathOf("bin.tmtk"), "-o", PathOf("bin.out")).Exit);
        Assert.Equal(bytes, File.ReadAllBytes(PathOf("bin.out")));
    }

    [Fact]
    public void CorruptOrForeignInputGivesOneClearLine()
    {
        File.WriteAllText(PathOf("text.txt"), "hello hello hello hello hello hello");
        Assert.Equal(0, Terse(null, "compress", PathOf("text.txt"), "-o", PathOf("t.tmtk")).Exit);
        var container = File.ReadAllBytes(PathOf("t.tmtk"));

        var cases = new (byte[] Input, string Message)[]
        {
            (Encoding.UTF8.GetBytes("just some text"), "not a Terse container"),
            (container[..(container.Length / 2)], "corrupt or truncated"),
            (container.Select((b, i) => i == container.Length - 6 ? (byte)(b ^ 1) : b).ToArray(), "corrupt or truncated"),
        };
        foreach (var (input, message) in cases)
        {
            File.WriteAllBytes(PathOf("bad"), input);
            var (exit, _, err) = Terse(null, "decompress", PathOf("bad"), "-o", PathOf("bad.out"));
            Assert.Equal(1, exit);
            Assert.StartsWith("terse: error: ", err);
            Assert.Contains(message, err);
            Assert.Single(err.TrimEnd('\n').Split('\n'));
            Assert.False(File.Exists(PathOf("bad.out")));
        }
        // A container made with one tokenizer refuses another (the fingerprints differ).
        var (mExit, _, mErr) = Terse(null, "decompress", PathOf("t.tmtk"), "-t", "o200k_base", "-o", PathOf("m.out"));
        Assert.Equal(1, mExit);
        Assert.Contains("fingerprint", mErr);
        Assert.Contains("cl100k_base", mErr);
        Assert.False(File.Exists(PathOf("m.out")));

        var (tExit, _, tErr) = Terse(null, "compress", PathOf("text.txt"), "-o", PathOf("x"), "-t", PathOf("no-such-tokenizer"));
        Assert.Equal(1, tExit);
        Assert.Contains("no tokenizer", tErr);
        var (jExit, _, jErr) = Terse(null, "compress", PathOf("text.txt"), "--json");
        Assert.Equal(1, jExit);
        Assert.Contains("-o FILE", jErr);
    }

    [Fact]
    public void DemoCompressesTheSampleAndConfirmsTheRoundTrip()
    {
        var (exit, output, err) = Terse(null, "demo", "--json");
        Assert.True(exit == 0, err);
        using var report = JsonDocument.Parse(output);
        var root = report.RootElement;
        Assert.True(root.GetProperty("round_trip_exact").GetBoolean());
        long before = root.GetProperty("input_tokens").GetInt64(), after = root.GetProperty("output_tokens").GetInt64();
        Assert.True(after < before * 0.85, output);
        Assert.True(after <= root.GetProperty("greedy_output_tokens").GetInt64(), output);

        var (textExit, text, _) = Terse(null, "demo");
        Assert.Equal(0, textExit);
        Assert.Contains("round trip        exact", text);
        Assert.Contains($"tokens before     {before}", text);
    }
}
