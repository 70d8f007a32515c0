using System.Text;
using System.Text.Json;
using Terse.Tests.MetaTokens;
using TestData = Terse.Tests.Infrastructure.TestData;

namespace Terse.Tests.ZTokens;

/// <summary><c>terse ztokens train|eval</c> and <c>terse compress -m ztokens</c> as a user runs them (the built CLI in a child process).</summary>
public class ZTokenCliTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("terse-ztokens-cli-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string PathOf(string name) => Path.Combine(folder, name);

    [Fact]
    public void TrainEvaluateCompressAndDecompress()
    {
        var text = TestData.ReadText("text/tinystories_valid_head.txt");
        File.WriteAllText(PathOf("train.txt"), text[..20_000]);
        File.WriteAllText(PathOf("heldout.txt"), text[^1_500..]);
        var (exit, output, err) = CompressCliTests.Terse(null, "ztokens", "train", PathOf("train.txt"), "-o", PathOf("model"),
            "--steps", "6", "--batch", "2", "--z-vocab", "32", "--segment", "8", "--max-code", "4", "--rank", "2", "--json");
        Assert.True(exit == 0, err);
        using (var summary = JsonDocument.Parse(output))
        {
            Assert.Equal(6, summary.RootElement.GetProperty("steps").GetInt32());
            Assert.True(double.IsFinite(summary.RootElement.GetProperty("last_loss").GetDouble()));
        }
        Assert.True(File.Exists(PathOf("model/ztokens.json")));
        Assert.True(File.Exists(PathOf("model/compressor/adapter_model.safetensors")));
        // The same command again resumes from the final checkpoint: nothing to train, the model and its manifest stay as they are.
        var manifest = File.ReadAllText(PathOf("model/ztokens.json"));
        (exit, _, err) = CompressCliTests.Terse(null, "ztokens", "train", PathOf("train.txt"), "-o", PathOf("model"),
            "--steps", "6", "--batch", "2", "--z-vocab", "32", "--segment", "8", "--max-code", "4", "--rank", "2", "--json");
        Assert.True(exit == 0, err);
        Assert.Contains("nothing to do", err);
        Assert.Equal(manifest, File.ReadAllText(PathOf("model/ztokens.json")));

        (exit, output, err) = CompressCliTests.Terse(null, "ztokens", "eval", PathOf("model"), PathOf("heldout.txt"), "--max-segments", "20", "--json");
        Assert.True(exit == 0, err);
        using (var report = JsonDocument.Parse(output))
        {
            var r = report.RootElement.GetProperty("report");
            Assert.Equal(20, r.GetProperty("segments").GetInt32());
            Assert.Equal(160, r.GetProperty("text_tokens").GetInt64());
            Assert.InRange(r.GetProperty("exact_rate").GetDouble(), 0, 1);
            Assert.Equal(19, r.GetProperty("continuation").GetProperty("pairs").GetInt32());
            Assert.True(report.RootElement.GetProperty("entropy_coder_bits_per_token").GetDouble() > 0);
        }

        (exit, output, err) = CompressCliTests.Terse(null, "compress", "-m", "ztokens", "--ztokens", PathOf("model"), PathOf("heldout.txt"), "-o", PathOf("h.tztk"), "--json");
        Assert.True(exit == 0, err);
        using (var report = JsonDocument.Parse(output))
        {
            Assert.True(report.RootElement.GetProperty("exact").GetBoolean());
            Assert.Equal(new FileInfo(PathOf("h.tztk")).Length, report.RootElement.GetProperty("output_bytes").GetInt64());
        }
        (exit, _, err) = CompressCliTests.Terse(null, "decompress", "--ztokens", PathOf("model"), PathOf("h.tztk"), "-o", PathOf("h.out"));
        Assert.True(exit == 0, err);
        Assert.Equal(File.ReadAllBytes(PathOf("heldout.txt")), File.ReadAllBytes(PathOf("h.out")));
        // Greedy choices and residual probabilities come from portable arithmetic: the file decodes
        // the same without the vector hardware it was written with.
        foreach (var name in new[] { "DOTNET_EnableHWIntrinsic", "DOTNET_EnableAVX2" })
        {
            (exit, _, err) = CompressCliTests.Terse(null, new Dictionary<string, string> { [name] = "0" },
                ["decompress", "--ztokens", PathOf("model"), PathOf("h.tztk"), "-o", PathOf($"h-{name}.out")]);
            Assert.True(exit == 0, $"{name}=0: {err}");
            Assert.Equal(File.ReadAllBytes(PathOf("heldout.txt")), File.ReadAllBytes(PathOf($"h-{name}.out")));
        }

        // Without the model, with a damaged, truncated or foreign container, or a changed model folder: one clear line and exit code 1.
        void Refused(string expected, params string[] args)
        {
            var (code, _, error) = CompressCliTests.Terse(null, args);
            Assert.True(code == 1, $"exit {code}: {error}");
            Assert.StartsWith("terse: error:", error);
            Assert.Single(error.TrimEnd('\n').Split('\n'));
            Assert.Contains(expected, error);
        }
        Refused("--ztokens", "decompress", PathOf("h.tztk"), "-o", PathOf("x"));
        var container = File.ReadAllBytes(PathOf("h.tztk"));
        var damaged = (byte[])container.Clone();
        damaged[damaged.Length / 2] ^= 0x10;
        File.WriteAllBytes(PathOf("bad.tztk"), damaged);
        Refused("checksum", "decompress", "--ztokens", PathOf("model"), PathOf("bad.tztk"), "-o", PathOf("x"));
        File.WriteAllBytes(PathOf("cut.tztk"), container[..(container.Length - 7)]);
        Refused("truncated", "decompress", "--ztokens", PathOf("model"), PathOf("cut.tztk"), "-o", PathOf("x"));

        (exit, _, err) = CompressCliTests.Terse(null, "ztokens", "train", PathOf("train.txt"), "-o", PathOf("other"),
            "--steps", "1", "--batch", "2", "--z-vocab", "32", "--segment", "8", "--max-code", "4", "--rank", "2", "--seed", "2");
        Assert.True(exit == 0, err);
        Refused("compressed with Z-token model", "decompress", "--ztokens", PathOf("other"), PathOf("h.tztk"), "-o", PathOf("x"));

        var adapter = PathOf("model/decompressor/adapter_model.safetensors");
        var weights = File.ReadAllBytes(adapter);
        weights[^2] ^= 0x01;
        File.WriteAllBytes(adapter, weights);
        Refused("the folder was changed", "decompress", "--ztokens", PathOf("model"), PathOf("h.tztk"), "-o", PathOf("x"));
        File.Delete(adapter);
        Refused("adapter_model.safetensors", "decompress", "--ztokens", PathOf("model"), PathOf("h.tztk"), "-o", PathOf("x"));
        Refused("ztokens.json", "ztokens", "eval", PathOf("nowhere"), PathOf("heldout.txt"));
        Assert.False(File.Exists(PathOf("x")), "a refused decompression must not leave an output file");
    }

    /// <summary>Issue 11 item 7: the built-in model makes <c>-m ztokens</c> work on a fresh clone, with no folder given.</summary>
    [Fact]
    public void The_built_in_model_compresses_and_decompresses_without_a_folder()
    {
        var text = TestData.ReadText("text/tinystories_valid_head.txt")[^1_200..];
        File.WriteAllText(PathOf("story.txt"), text);
        var (exit, output, err) = CompressCliTests.Terse(null, "compress", "-m", "ztokens", PathOf("story.txt"), "-o", PathOf("story.tztk"), "--json");
        Assert.True(exit == 0, err);
        using (var report = JsonDocument.Parse(output))
        {
            var r = report.RootElement;
            Assert.True(r.GetProperty("exact").GetBoolean());
            int segments = r.GetProperty("segments").GetInt32();
            Assert.Equal(segments, r.GetProperty("exact_segments").GetInt32() + r.GetProperty("repaired_segments").GetInt32() + r.GetProperty("raw_segments").GetInt32());
            long zTokens = r.GetProperty("z_tokens").GetInt64();
            long coded = r.GetProperty("input_tokens").GetInt64() - r.GetProperty("raw_tokens").GetInt64();
            Assert.Equal(zTokens == 0 ? 0 : (double)coded / zTokens, r.GetProperty("ratio").GetDouble(), 9);
            Assert.Equal(8.0 * new FileInfo(PathOf("story.tztk")).Length / Encoding.UTF8.GetByteCount(text), r.GetProperty("bits_per_byte").GetDouble(), 9);
            Assert.True(r.GetProperty("bound_ratio").GetDouble() > 0);
        }
        (exit, _, err) = CompressCliTests.Terse(null, "decompress", PathOf("story.tztk"), "-o", PathOf("story.out"));
        Assert.True(exit == 0, err);
        Assert.Equal(File.ReadAllBytes(PathOf("story.txt")), File.ReadAllBytes(PathOf("story.out")));
    }
}
