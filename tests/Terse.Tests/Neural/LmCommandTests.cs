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
    public void GoldenOutputsSurviveConversionToTheHuggingFaceLayout()
    {
        var folder = Directory.CreateTempSubdirectory("terse-cli-hf-");
        try
        {
            var convert = RunCli("lm", "convert", "-m", TestData.Path("models/stories260K.bin"), "-o", folder.FullName, "--json");
            Assert.True(convert.ExitCode == 0, convert.Stderr);
            Assert.True(File.Exists(Path.Combine(folder.FullName, "model.safetensors")));
            foreach (var golden in ModelFixtures.GoldenCases().Where(g => g.Model == "stories260K.bin"))
            {
                var args = new List<string> { "lm", "generate", "-m", folder.FullName, "-t", TestData.Path("models/" + golden.Tokenizer),
                    "-n", golden.Steps.ToString(), "--temperature", "0" };
                if (golden.Prompt.Length > 0)
                    args.AddRange(["-p", golden.Prompt]);
                var (exit, stdout, stderr) = RunCli(args.ToArray());
                Assert.True(exit == 0, stderr);
                Assert.Equal(golden.Expected + "\n", Encoding.UTF8.GetString(stdout));
            }
            // And back to llama2.c: the header and every weight byte-identical (the obsolete RoPE tables after them are recomputed).
            var back = Path.Combine(folder.FullName, "back.bin");
            Assert.Equal(0, RunCli("lm", "convert", "-m", folder.FullName, "-o", back).ExitCode);
            var original = TestData.ReadBytes("models/stories260K.bin");
            var roundTrip = File.ReadAllBytes(back);
            int weights = 28 + 4 * (int)ModelFixtures.Stories260K.Config.ParameterCount;
            Assert.Equal(original.Length, roundTrip.Length);
            Assert.True(original.AsSpan(0, weights).SequenceEqual(roundTrip.AsSpan(0, weights)));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void EvalReportsNatsBitsAndBitsPerByte()
    {
        var text = Path.Combine(Path.GetTempPath(), $"terse-eval-{Guid.NewGuid():N}.txt");
        File.WriteAllText(text, TestData.ReadText("text/tinystories_valid_head.txt")[..20_000]);
        try
        {
            var (exit, stdout, stderr) = RunCli("lm", "eval", "-m", TestData.Path("models/stories260K.bin"), "-t", TestData.Path("models/stories260K_tok512.bin"), text, "--json");
            Assert.True(exit == 0, stderr);
            using var json = JsonDocument.Parse(stdout);
            var root = json.RootElement;
            double nats = root.GetProperty("nats_per_token").GetDouble();
            Assert.InRange(nats, 1.0, 2.5); // a real TinyStories model on TinyStories text
            Assert.Equal(nats / Math.Log(2), root.GetProperty("bits_per_token").GetDouble(), 4);
            Assert.Equal(20_000, root.GetProperty("bytes").GetInt64());
            Assert.Equal(nats / Math.Log(2) * root.GetProperty("tokens").GetInt64() / 20_000, root.GetProperty("bits_per_byte").GetDouble(), 4);
        }
        finally
        {
            File.Delete(text);
        }
    }

    [Fact]
    public void TrainWritesAnAdapterThatGenerateAndEvalAccept()
    {
        var work = Directory.CreateTempSubdirectory("terse-cli-train-");
        try
        {
            var text = TestData.ReadText("text/tinystories_valid_head.txt");
            var train = Path.Combine(work.FullName, "train.txt");
            var valid = Path.Combine(work.FullName, "valid.txt");
            File.WriteAllText(train, text[..30_000]);
            File.WriteAllText(valid, text[^5_000..]);
            var adapter = Path.Combine(work.FullName, "adapter");
            var checkpoint = Path.Combine(work.FullName, "state.safetensors");
            string[] Args(int steps) => ["lm", "train", "-m", TestData.Path("models/stories260K.bin"), "-t", TestData.Path("models/stories260K_tok512.bin"),
                train, "-o", adapter, "--lora-rank", "4", "--steps", steps.ToString(), "--batch", "4", "--seq", "64", "--lr", "1e-3",
                "--validation", valid, "--checkpoint", checkpoint, "--checkpoint-every", "5", "--json"];
            var first = RunCli(Args(5));
            Assert.True(first.ExitCode == 0, first.Stderr);
            // Resuming from the checkpoint continues to step 10 instead of starting over.
            var (exit, stdout, stderr) = RunCli(Args(10));
            Assert.True(exit == 0, stderr);
            using var json = JsonDocument.Parse(stdout);
            Assert.Equal(10, json.RootElement.GetProperty("steps").GetInt32());
            Assert.Equal(5 * 4 * 64, json.RootElement.GetProperty("tokens").GetInt64());
            Assert.True(File.Exists(Path.Combine(adapter, "adapter_config.json")));
            Assert.True(json.RootElement.GetProperty("validation_after").GetDouble() > 0);

            var generated = RunCli("lm", "generate", "-m", TestData.Path("models/stories260K.bin"), "-t", TestData.Path("models/stories260K_tok512.bin"),
                "--adapter", adapter, "-n", "20", "--temperature", "0");
            Assert.True(generated.ExitCode == 0, generated.Stderr);
            Assert.True(generated.Stdout.Length > 10);
        }
        finally
        {
            work.Delete(recursive: true);
        }
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
                (["lm", "eval", "-m", truncated, "-t", TestData.Path("models/stories260K_tok512.bin"), "/dev/null"], "truncated"),
                (["lm", "train", "-t", TestData.Path("models/stories260K_tok512.bin"), "/dev/null", "-o", "/tmp/x"], "--model"),
                (["lm", "convert", "-m", "/nonexistent", "-o", "/tmp/x.bin"], "no such model"),
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
