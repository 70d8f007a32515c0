using System.Text;
using System.Text.Json;
using Terse.Tests.Infrastructure;
using Terse.Tests.Neural;

namespace Terse.Tests.Gmsa;

/// <summary><c>terse gmsa …</c> end to end on the built-in stories260K with a few training steps.</summary>
public class GmsaCommandTests
{
    private static JsonElement Json(byte[] stdout) => JsonDocument.Parse(Encoding.UTF8.GetString(stdout)).RootElement;

    private static JsonElement Run(params string[] args)
    {
        var (exit, stdout, stderr) = LmCommandTests.RunCli(args);
        Assert.True(exit == 0, $"terse {string.Join(' ', args)}: {stderr}");
        return Json(stdout);
    }

    [Fact]
    public void TrainEvaluateFineTuneCompressAndGenerate()
    {
        var folder = Directory.CreateTempSubdirectory("terse-gmsa-cli-");
        try
        {
            string text = Path.Combine(folder.FullName, "story.txt"), dir = Path.Combine(folder.FullName, "gmsa"), soft = Path.Combine(folder.FullName, "soft.safetensors");
            File.WriteAllText(text, TestData.ReadText("text/tinystories_valid_head.txt")[..3000]);

            var train = Run("gmsa", "train", text, "-o", dir, "--steps", "3", "--batch", "2", "--segment", "16", "--rates", "2,4", "--rank", "4", "--json");
            Assert.Equal(3, train.GetProperty("steps").GetInt32());
            Assert.True(File.Exists(Path.Combine(dir, "encoder", "adapter_model.safetensors")));

            var eval = Run("gmsa", "eval", dir, text, "--samples", "2", "--json");
            var results = eval.GetProperty("results").EnumerateArray().ToArray();
            Assert.Equal([2, 4], results.Select(r => r.GetProperty("rate").GetInt32()));
            Assert.Equal([8, 4], results.Select(r => r.GetProperty("soft_tokens_per_segment").GetInt32()));
            Assert.All(results, r => Assert.InRange(r.GetProperty("token_accuracy").GetDouble(), 0, 1));

            Run("gmsa", "keft", dir, text, "--steps", "2", "--batch", "2", "--continuation", "8", "--json");
            var cont = Run("gmsa", "eval", dir, text, "--task", "continue", "--rate", "4", "--samples", "2", "--continuation", "8", "--json");
            var row = cont.GetProperty("results")[0];
            Assert.Equal(1 + 4 + 7, row.GetProperty("soft_decoder_positions").GetInt32());
            Assert.Equal(1 + 16 + 7, row.GetProperty("full_decoder_positions").GetInt32());
            Assert.NotEqual(JsonValueKind.Null, row.GetProperty("soft_keft_nats").ValueKind);

            var compress = Run("gmsa", "compress", dir, text, "-o", soft, "--rate", "4", "--json");
            int tokens = compress.GetProperty("tokens").GetInt32();
            // 4 soft tokens per full 16-token segment, ⌈rest / 4⌉ for the ragged last one
            Assert.Equal(tokens / 16 * 4 + (tokens % 16 + 3) / 4, compress.GetProperty("soft_tokens").GetInt32());

            var generate = Run("gmsa", "generate", dir, "--context", soft, "--steps", "5", "--json");
            Assert.InRange(generate.GetProperty("generated_tokens").GetInt32(), 0, 5);
            Assert.True(generate.GetProperty("keft").GetBoolean());
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("gmsa", "eval", "/nonexistent/gmsa", "x.txt")]
    [InlineData("gmsa", "train", "/nonexistent/story.txt", "-o", "/tmp/unused", "--merge", "bogus")]
    [InlineData("gmsa", "generate", "/nonexistent/gmsa", "--context", "/nonexistent/soft.safetensors")]
    public void BadInputGivesOneErrorLineAndExitCodeOne(params string[] args)
    {
        var (exit, _, stderr) = LmCommandTests.RunCli(args);
        Assert.Equal(1, exit);
        Assert.StartsWith("terse: error:", stderr);
        Assert.Single(stderr.TrimEnd().Split('\n'));
    }
}
