using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Terse.Tests.Infrastructure;

namespace Terse.Tests.Tokenization;

/// <summary>
/// Console.SetOut is process-wide, and other tests print (FsCheck reports "Ok, passed …"), so the
/// in-process CLI tests run alone, after the parallel ones.
/// </summary>
[CollectionDefinition("TokenizerCli", DisableParallelization = true)]
public sealed class TokenizerCliCollection;

/// <summary>The tokenizer commands, run in-process through Terse.Cli.Program.Run (and once as a process, for stdin).</summary>
[Collection("TokenizerCli")]
public sealed class TokenizerCliTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("terse-cli-");

    public void Dispose() => _directory.Delete(recursive: true);

    private string TempFile(string name, byte[] content)
    {
        var path = Path.Combine(_directory.FullName, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    private static (int Code, string Out, string Error) Run(params string[] args)
    {
        var (oldOut, oldError) = (Console.Out, Console.Error);
        var (output, error) = (new StringWriter(), new StringWriter());
        Console.SetOut(output);
        Console.SetError(error);
        try
        {
            int code = Terse.Cli.Program.Run(args);
            return (code, output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldError);
        }
    }

    [Fact]
    public void TokenizePrintsIdsOnOneLine()
    {
        var file = TempFile("in.txt", "Hello world"u8.ToArray());
        var (code, output, error) = Run("tokenize", "-t", "cl100k_base", file);
        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.Equal("9906 1917\n", output);
    }

    [Fact]
    public void TokenizeJsonAndSpecialTokens()
    {
        var file = TempFile("in.txt", "Hi<|endoftext|>"u8.ToArray());
        var (code, output, _) = Run("tokenize", "-t", "cl100k_base", "--allow-special", "--eos", "--json", file);
        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(output);
        Assert.Equal("cl100k_base", json.RootElement.GetProperty("tokenizer").GetString());
        Assert.Equal([13347, 100257, 100257], json.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(3, json.RootElement.GetProperty("count").GetInt32());
        // Without --allow-special the same text is ordinary text.
        Assert.DoesNotContain("100257", Run("tokenize", "-t", "cl100k_base", file).Out);
    }

    [Fact]
    public void DetokenizeGivesTheTextBack()
    {
        var text = TestData.ReadText("text/tinystories_sample_cs336.txt");
        var input = TempFile("in.txt", Encoding.UTF8.GetBytes(text));
        var (_, ids, _) = Run("tokenize", "-t", "o200k_base", input);
        var idsFile = TempFile("ids.txt", Encoding.UTF8.GetBytes(ids.Replace(" ", "\n  ")));
        var (code, output, error) = Run("detokenize", "-t", "o200k_base", idsFile);
        Assert.Equal((0, ""), (code, error));
        Assert.Equal(text, output);
        var (_, json, _) = Run("detokenize", "-t", "o200k_base", "--json", idsFile);
        Assert.Equal(text, JsonDocument.Parse(json).RootElement.GetProperty("text").GetString());
    }

    [Fact]
    public void RawBytesRoundTripAnyFile()
    {
        var bytes = new byte[] { 0xFF, (byte)'a', 0xC3, 0x00, 0xE2, 0x82, (byte)'\n', 0xF0, 0x9F, 0x98, 0x80 };
        var input = TempFile("in.bin", bytes);
        var (_, ids, _) = Run("tokenize", "-t", "gpt2", input);
        var output = Path.Combine(_directory.FullName, "out.bin");
        var (code, _, error) = Run("detokenize", "-t", "gpt2", "--raw-bytes", "-o", output, TempFile("ids.txt", Encoding.UTF8.GetBytes(ids)));
        Assert.Equal((0, ""), (code, error));
        Assert.Equal(bytes, File.ReadAllBytes(output));
    }

    [Fact]
    public void CountCountsTokens()
    {
        var file = TempFile("in.txt", "Hello world"u8.ToArray());
        Assert.Equal((0, "2\n", ""), Run("count", "-t", "gpt2", file));
        Assert.Equal((0, "4\n", ""), Run("count", "-t", TestData.Path("tokenizers/llama3_tokenizer.model.tiktoken"), "--bos", "--eos", file));
        using var json = JsonDocument.Parse(Run("count", "-t", "gpt2", "--json", file).Out);
        Assert.Equal(2, json.RootElement.GetProperty("count").GetInt32());
        Assert.Equal(11, json.RootElement.GetProperty("bytes").GetInt32());
    }

    [Fact]
    public void TokenizersListsTheBuiltIns()
    {
        var (code, output, _) = Run("tokenizers");
        Assert.Equal(0, code);
        foreach (var name in new[] { "r50k_base", "gpt2", "p50k_base", "cl100k_base", "o200k_base", ".tiktoken", "vocab.json", "tokenizer.json" })
            Assert.Contains(name, output);
        using var json = JsonDocument.Parse(Run("tokenizers", "--json").Out);
        Assert.True(json.RootElement.GetProperty("built_in").GetArrayLength() >= 5);
        Assert.Equal(100277, json.RootElement.GetProperty("built_in")[3].GetProperty("vocabulary_size").GetInt32());
    }

    [Theory]
    [InlineData("1 2 x", "bad token id 'x' (item 3)")]
    [InlineData("1 -2", "bad token id '-2' (item 2)")]
    [InlineData("99999999999", "bad token id '99999999999'")]
    [InlineData("100277", "token id 100277 (item 1) is outside the vocabulary of 'cl100k_base'")]
    [InlineData("100261", "token id 100261 is outside the vocabulary")]
    public void BadIdsAreOneClearError(string ids, string message)
    {
        var (code, output, error) = Run("detokenize", "-t", "cl100k_base", TempFile("ids.txt", Encoding.UTF8.GetBytes(ids)));
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.StartsWith("terse: error: ", error);
        Assert.Contains(message, error);
        Assert.Equal(1, error.Count(c => c == '\n'));
    }

    [Fact]
    public void BadTokenizersAreOneClearError()
    {
        var input = TempFile("in.txt", "x"u8.ToArray());
        var malformed = TempFile("broken.tiktoken", "QQ== zero\n"u8.ToArray());
        var wrongType = TempFile("model.xyz", "x"u8.ToArray());
        foreach (var (tokenizer, message) in new[] { ("nope", "no tokenizer 'nope'"), (malformed, "broken.tiktoken, line 1"), (wrongType, "unknown tokenizer file type") })
        {
            var (code, output, error) = Run("tokenize", "-t", tokenizer, input);
            Assert.Equal(1, code);
            Assert.Equal("", output);
            Assert.Contains(message, error);
            Assert.Equal(1, error.Count(c => c == '\n'));
        }
        Assert.Contains("no beginning-of-sequence token", Run("tokenize", "-t", "gpt2", "--bos", input).Error);
        Assert.Contains("no such file", Run("tokenize", "-t", "gpt2", Path.Combine(_directory.FullName, "missing.txt")).Error);
    }

    [Fact]
    public void TokenizeReadsStdin()
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Terse.Cli.dll"), "tokenize", "-t", "cl100k_base"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        process.StandardInput.Write("Hello world");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        Assert.Equal("9906 1917\n", output);
    }
}
