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

        // Without the model, or with a damaged file: one clear line and exit code 1.
        (exit, _, err) = CompressCliTests.Terse(null, "decompress", PathOf("h.tztk"), "-o", PathOf("x"));
        Assert.Equal(1, exit);
        Assert.StartsWith("terse: error:", err);
        Assert.Contains("--ztokens", err);
        var damaged = File.ReadAllBytes(PathOf("h.tztk"));
        damaged[damaged.Length / 2] ^= 0x10;
        File.WriteAllBytes(PathOf("bad.tztk"), damaged);
        (exit, _, err) = CompressCliTests.Terse(null, "decompress", "--ztokens", PathOf("model"), PathOf("bad.tztk"), "-o", PathOf("x"));
        Assert.Equal(1, exit);
        Assert.Contains("checksum", err);
        (exit, _, err) = CompressCliTests.Terse(null, "ztokens", "eval", PathOf("nowhere"), PathOf("heldout.txt"));
        Assert.Equal(1, exit);
        Assert.Contains("ztokens.json", err);
    }
}
