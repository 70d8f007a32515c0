using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Terse.Tests.Infrastructure;

namespace Terse.Tests.Neural;

/// <summary>
/// <c>terse lm …</c> run as a separate process (stdout carries raw bytes, which an in-process
/// TextWriter redirect could not capture exactly).
/// </summary>
public class LmCommandTests
{
    internal static (int ExitCode, byte[] Stdout, string Stderr) RunCli(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Terse.Cli.dll"));
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        string stderr = process.StandardError.ReadToEnd();
        copy.Wait();
        process.WaitForExit();
        return (process.ExitCode, stdout.ToArray(), stderr);
    }

    public static TheoryData<int> GoldenLines() => new(Enumerable.Range(0, ModelFixtures.GoldenCases().Count));

    [Theory]
    [MemberData(nameof(GoldenLines))]
    public void GenerateMatchesRunCByteForByte(int line)
    {
        var golden = ModelFixtures.GoldenCases()[line];
        var args = new List<string>
        {
            "lm", "generate", "--model", TestData.Path("models/" + golden.Model), "--tokenizer", TestData.Path("models/" + golden.Tokenizer),
            "--steps", golden.Steps.ToString(), "--temperature", "0",
        };
        if (golden.Prompt.Length > 0)
            args.AddRange(["--prompt", golden.Prompt]);
        var (exit, stdout, stderr) = RunCli(args.ToArray());
        Assert.True(exit == 0, stderr);
        Assert.Equal(golden.Expected + "\n", Encoding.UTF8.GetString(stdout));
    }

    [Fact]
    public void BabyLlamaWithItsSentencePieceModelGeneratesTheDocumentedText()
    {
        // SOURCES.md quotes the 120-step greedy output: "- babyllama_tok105_model5000, 120 steps: `…`."
        var sources = File.ReadAllText(Path.Combine(TestData.SharedDataRoot, "SOURCES.md"));
        string expected = Regex.Match(sources, @"babyllama_tok105_model5000, 120 steps: `([^`]*)`").Groups[1].Value;
        Assert.StartsWith("Once upon a time", expected);
        var (exit, stdout, stderr) = RunCli("lm", "generate", "-m", TestData.Path("models/babyllama_tok105_model5000.bin"),
            "-t", TestData.Path("models/babyllama_tok105.model"), "-n", "120", "--temperature", "0");
        Assert.True(exit == 0, stderr);
        Assert.Equal(expected + "\n", Encoding.UTF8.GetString(stdout));
    }

    [Fact]
    public void JsonReportsTextAndTokens()
    {
        var (exit, stdout, stderr) = RunCli("lm", "generate", "-m", TestData.Path("models/stories260K.bin"),
            "-t", TestData.Path("models/stories260K_tok512.bin"), "-n", "30", "--temperature", "0", "-p", "Once upon", "--json");
        Assert.True(exit == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.StartsWith("Once upon a time", root.GetProperty("text").GetString());
        // 30 positions forwarded, each followed by one token: BOS + 30.
        Assert.Equal(31, root.GetProperty("tokens").GetArrayLength());
        Assert.Equal(1, root.GetProperty("tokens")[0].GetInt32());
        Assert.Equal(31 - root.GetProperty("prompt_tokens").GetInt32(), root.GetProperty("generated_tokens").GetInt32());
        Assert.False(root.GetProperty("stopped_at_bos").GetBoolean());
    }

    [Fact]
    public void SeededSamplingIsReproducible()
    {
        string[] Args(string seed) => ["lm", "generate", "-m", TestData.Path("models/stories260K.bin"),
            "-t", TestData.Path("models/stories260K_tok512.bin"), "-n", "80", "--temperature", "0.9", "--seed", seed];
        var first = RunCli(Args("42"));
        Assert.True(first.ExitCode == 0, first.Stderr);
        Assert.Equal(first.Stdout, RunCli(Args("42")).Stdout);
        Assert.NotEqual(first.Stdout, RunCli(Args("43")).Stdout);
    }

    [Fact]
    public void BadInputsGiveOneClearLineAndExitCodeOne()
    {
        var truncated = Path.Combine(Path.GetTempPath(), $"terse-truncated-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(truncated, TestData.ReadBytes("models/stories260K.bin")[..5000]);
        try
        {
            var cases = new (string[] Args, string Message)[]
            {
                (["lm", "generate", "-m", "/nonexistent/model.bin", "-t", TestData.Path("models/stories260K_tok512.bin")], "no such model file"),
                (["lm", "generate", "-m", truncated, "-t", TestData.Path("models/stories260K_tok512.bin")], "truncated"),
                (["lm", "generate", "-m", TestData.Path("models/babyllama_tok105_model5000.bin"), "-t", TestData.Path("models/stories260K_tok512.bin")], "tokens"),
                (["lm", "generate", "-m", TestData.Path("models/stories260K.bin"), "-t", TestData.Path("models/stories260K_tok512.bin"), "-n", "-3"], "--steps"),
            };
            foreach (var (args, message) in cases)
            {
                var (exit, stdout, stderr) = RunCli(args);
                Assert.Equal(1, exit);
                Assert.StartsWith("terse: error: ", stderr);
                Assert.Contains(message, stderr);
                Assert.Single(stderr.TrimEnd('\n').Split('\n'));
            }
        }
        finally
        {
            File.Delete(truncated);
        }
    }
}
