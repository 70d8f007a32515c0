using System.Text.Json;
using Terse.EntropyCoding;
using Terse.Models;
using Terse.Tests.MetaTokens;
using TestData = Terse.Tests.Infrastructure.TestData;

namespace Terse.Tests.EntropyCoding;

/// <summary><c>terse compress -m entropy</c> and <c>terse decompress</c> as a user runs them (the built CLI in a child process).</summary>
public class EntropyCliTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("terse-entropy-cli-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string PathOf(string name) => Path.Combine(folder, name);

    [Fact]
    public void Compress_with_the_default_model_reports_json_and_decompress_restores_the_bytes()
    {
        var input = TestData.ReadBytes("text/tinystories_valid_head.txt")[..6_000];
        File.WriteAllBytes(PathOf("in.txt"), input);
        var (exit, output, err) = CompressCliTests.Terse(null, "compress", "-m", "entropy", PathOf("in.txt"), "-o", PathOf("in.tsec"), "--json");
        Assert.True(exit == 0, err);
        using var report = JsonDocument.Parse(output);
        var root = report.RootElement;
        long outputBytes = new FileInfo(PathOf("in.tsec")).Length;
        Assert.Equal(input.Length, root.GetProperty("input_bytes").GetInt64());
        Assert.Equal(outputBytes, root.GetProperty("output_bytes").GetInt64());
        long tokens = root.GetProperty("input_tokens").GetInt64();
        Assert.InRange(tokens, input.Length / 4, input.Length);
        Assert.Equal(8.0 * outputBytes / input.Length, root.GetProperty("bits_per_byte").GetDouble(), 9);
        Assert.Equal(8.0 * outputBytes / tokens, root.GetProperty("bits_per_token").GetDouble(), 9);
        Assert.True(root.GetProperty("exact").GetBoolean());
        Assert.True(root.GetProperty("bits_per_byte").GetDouble() < 1.6, output);
        Assert.Equal(0, root.GetProperty("stored_chunks").GetInt32());

        (exit, _, err) = CompressCliTests.Terse(null, "decompress", PathOf("in.tsec"), "-o", PathOf("out.txt"));
        Assert.True(exit == 0, err);
        Assert.Equal(input, File.ReadAllBytes(PathOf("out.txt")));
    }

    /// <summary>
    /// Issue 12's portability check, in child processes: a file compressed normally (here AVX-512 or
    /// AVX2 with fused multiply-add; the current version, so the mixer too) decodes exactly with the runtime's vector hardware switched off,
    /// with AVX2 off, and with vectors limited to 128 bits and <c>--threads 1</c>. Version 2 failed
    /// the first: its probabilities came from the engine's fast arithmetic. (Engine thread counts,
    /// which the CLI does not expose, are varied in process: PortableArithmeticTests.)
    /// </summary>
    [Fact]
    public void A_file_decodes_exactly_without_intrinsics_with_narrower_vectors_and_one_thread()
    {
        // A story and log lines: 1,990 tokens, a few seconds without vector hardware.
        var story = TestData.ReadBytes("text/tinystories_valid_head.txt")[..2_000];
        var log = TestData.ReadBytes("text/loghub_HDFS_2k.log")[..1_200];
        byte[] input = [.. story, .. log];
        File.WriteAllBytes(PathOf("in.txt"), input);
        var (exit, _, err) = CompressCliTests.Terse(null, "compress", "-m", "entropy", PathOf("in.txt"), "-o", PathOf("in.tsec"));
        Assert.True(exit == 0, err);
        Assert.Equal(EntropyContainer.Version, File.ReadAllBytes(PathOf("in.tsec"))[4]);

        var settings = new (string Name, string Value, string[] Extra)[]
        {
            ("DOTNET_EnableHWIntrinsic", "0", []),
            ("DOTNET_EnableAVX2", "0", []),
            ("DOTNET_PreferredVectorBitWidth", "128", ["--threads", "1"]),
        };
        foreach (var (name, value, extra) in settings)
        {
            string output = PathOf($"out-{name}.txt");
            var (code, _, error) = CompressCliTests.Terse(null, new Dictionary<string, string> { [name] = value },
                ["decompress", PathOf("in.tsec"), "-o", output, .. extra]);
            Assert.True(code == 0, $"{name}={value}: {error}");
            Assert.True(input.AsSpan().SequenceEqual(File.ReadAllBytes(output)), $"{name}={value} decoded other bytes");
        }
    }

    [Fact]
    public void Pipes_and_another_model_given_by_path_round_trip()
    {
        string model = TestData.Path("models/babyllama_tok105_model5000.bin");
        string tokenizer = TestData.Path("models/babyllama_tok105.model");
        var input = "Once upon a time, Lily saw a 🐶.\nThe end!\n"u8.ToArray();
        var (exit, container, err) = CompressCliTests.Terse(input, "compress", "-m", "entropy", "--model", model, "-t", tokenizer, "-o", PathOf("baby.tsec"));
        Assert.True(exit == 0, err);
        var (back, restored, err2) = CompressCliTests.Terse(File.ReadAllBytes(PathOf("baby.tsec")), "decompress", "--model", model, "-t", tokenizer);
        Assert.True(back == 0, err2);
        Assert.Equal(input, System.Text.Encoding.UTF8.GetBytes(restored));

        var (noModel, _, message) = CompressCliTests.Terse(null, "decompress", PathOf("baby.tsec"), "-o", PathOf("x"));
        Assert.Equal(1, noModel);
        Assert.StartsWith("terse: error:", message);
        Assert.Contains("babyllama_tok105_model5000", message);
    }

    [Fact]
    public void Input_the_model_cannot_predict_is_packed_with_Brotli_and_the_summary_says_so()
    {
        var input = TestData.ReadBytes("text/loghub_OpenSSH_2k.log")[..20_000];
        File.WriteAllBytes(PathOf("log.txt"), input);
        var (exit, output, err) = CompressCliTests.Terse(null, "compress", "-m", "entropy", "--model", "stories260K", PathOf("log.txt"), "-o", PathOf("log.tsec"), "--json");
        Assert.True(exit == 0, err);
        using var report = JsonDocument.Parse(output);
        var root = report.RootElement;
        // The story model needs more than 8 bits a byte here; Brotli needs less than one.
        Assert.Equal(root.GetProperty("chunks").GetInt32(), root.GetProperty("brotli_chunks").GetInt32());
        Assert.Equal(input.Length, root.GetProperty("brotli_bytes").GetInt64());
        Assert.Equal(0, root.GetProperty("stored_chunks").GetInt32());
        Assert.True(root.GetProperty("output_bytes").GetInt64() < input.Length / 4, output);
        Assert.True(root.GetProperty("exact").GetBoolean());

        (exit, var summary, err) = CompressCliTests.Terse(null, "compress", "-m", "entropy", "--model", "stories260K", PathOf("log.txt"), "-o", PathOf("log2.tsec"));
        Assert.True(exit == 0, err);
        Assert.Contains("packed with Brotli", summary);
        Assert.Equal(File.ReadAllBytes(PathOf("log.tsec")), File.ReadAllBytes(PathOf("log2.tsec")));
        (exit, _, err) = CompressCliTests.Terse(null, "decompress", PathOf("log.tsec"), "-o", PathOf("log.out"));
        Assert.True(exit == 0, err);
        Assert.Equal(input, File.ReadAllBytes(PathOf("log.out")));
    }

    [Fact]
    public void Wrong_model_and_damaged_files_fail_with_one_clear_line()
    {
        File.WriteAllBytes(PathOf("in.txt"), "Tom had a red ball. He liked to play."u8.ToArray());
        var (exit, _, err) = CompressCliTests.Terse(null, "compress", "-m", "entropy", PathOf("in.txt"), "-o", PathOf("in.tsec"));
        Assert.True(exit == 0, err);

        var (wrong, _, wrongError) = CompressCliTests.Terse(null, "decompress", PathOf("in.tsec"), "-o", PathOf("x"),
            "--model", TestData.Path("models/aidreams260K.bin"), "-t", TestData.Path("models/aidreams260K_tok512.bin"));
        Assert.Equal(1, wrong);
        Assert.Matches($"^terse: error: this file was compressed with model '{ModelResolver.DefaultFor("compress -m entropy")}' .* but the given model is 'aidreams260K'", wrongError.Trim());
        Assert.Single(wrongError.Trim().Split('\n'));

        var container = File.ReadAllBytes(PathOf("in.tsec"));
        File.WriteAllBytes(PathOf("cut.tsec"), container[..(container.Length - 3)]);
        var flipped = (byte[])container.Clone();
        flipped[container.Length / 2] ^= 0x10;
        File.WriteAllBytes(PathOf("flip.tsec"), flipped);
        foreach (var damaged in new[] { "cut.tsec", "flip.tsec" })
        {
            var (code, _, error) = CompressCliTests.Terse(null, "decompress", PathOf(damaged), "-o", PathOf("x"));
            Assert.Equal(1, code);
            Assert.StartsWith("terse: error:", error);
            Assert.Contains("corrupt", error);
        }
    }
}
