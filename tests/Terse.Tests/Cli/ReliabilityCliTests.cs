using System.Diagnostics;
using System.Text;
using Terse.Tests.MetaTokens;

namespace Terse.Tests.Cli;

/// <summary>
/// Issue 14's reproductions, run as a user runs them (the CLI in a child process): each bad input
/// gets exactly one line <c>terse: error: …</c> on stderr and exit code 1, never a stack trace, a
/// hang or an unbounded allocation.
/// </summary>
public sealed class ReliabilityCliTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("terse-reliability-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string PathOf(string name) => Path.Combine(folder, name);

    private static (int Exit, string Out, string Err) Terse(params string[] args) => CompressCliTests.Terse([], args);

    /// <summary>Asserts the failure a user should see: exit 1 and one error line that contains each of <paramref name="expected"/>.</summary>
    internal static void AssertOneErrorLine((int Exit, string Out, string Err) result, params string[] expected)
    {
        Assert.True(result.Exit == 1, $"exit {result.Exit}; stderr: {result.Err}");
        var lines = result.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "expected one line on stderr, got:\n" + result.Err);
        Assert.StartsWith("terse: error: ", lines[0]);
        foreach (var text in expected)
            Assert.Contains(text, lines[0]);
        Assert.DoesNotContain("   at ", result.Err);
    }

    /// <summary>The CLI with descriptor 0 closed, as <c>terse … &lt;&amp;-</c> in a shell.</summary>
    private static (int Exit, string Err) TerseWithoutStdin(params string[] args)
    {
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-c", "exec \"$0\" \"$@\" <&-", "dotnet", Path.Combine(AppContext.BaseDirectory, "Terse.Cli.dll") }.Concat(args))
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var err = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("terse waited for a closed stdin: " + string.Join(' ', args));
        }
        return (process.ExitCode, err.Result);
    }

    [Theory]
    [InlineData("count", "-t", "stories260K")]
    [InlineData("tokenize", "-t", "stories260K")]
    [InlineData("compress")]
    [InlineData("decompress")]
    [InlineData("lm", "eval", "-m", "stories260K")]
    public void AClosedStdinIsAnErrorNotAHang(params string[] args)
    {
        var (exit, err) = TerseWithoutStdin(args);
        AssertOneErrorLine((exit, "", err), "stdin is closed");
    }

    [Fact]
    public void OutputToDevStdoutIsTheContainerAloneAndAMissingFolderIsAnError()
    {
        File.WriteAllText(PathOf("notes.txt"), "hello world, hello world, hello world\n");
        var (exit, output, err) = Terse("compress", PathOf("notes.txt"), "-o", "/dev/stdout");
        Assert.True(exit == 0, err);
        Assert.StartsWith("TMTK", output);
        Assert.DoesNotContain("metatoken (", output);

        string missing = PathOf("missing/out.tmtk");
        AssertOneErrorLine(Terse("compress", PathOf("notes.txt"), "-o", missing), $"cannot write {missing}", "does not exist");
        Assert.False(Directory.Exists(PathOf("missing")));
    }
}
