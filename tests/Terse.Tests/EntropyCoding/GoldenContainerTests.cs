using Terse.EntropyCoding;
using TestData = Terse.Tests.Infrastructure.TestData;

namespace Terse.Tests.EntropyCoding;

/// <summary>
/// One file per container version, each the same small text (Golden/golden.txt: a story, a log
/// line, JSON, accents, CJK and a tab) compressed with the default model by the build that wrote
/// that version. Files of every version must keep decoding; the current version must also be
/// written again byte for byte, so any change to the probabilities or the format shows here.
/// </summary>
public class GoldenContainerTests
{
    private static string GoldenPath(string name) => Path.Combine(TestData.RepositoryRoot, "tests", "Terse.Tests", "EntropyCoding", "Golden", name);

    private static readonly byte[] Text = File.ReadAllBytes(GoldenPath("golden.txt"));

    /// <remarks>
    /// Version 2 took its probabilities from the engine's fast arithmetic, whose last bits may differ
    /// on another kind of CPU (x64 with AVX2 or AVX-512 wrote this one): there this case may fail,
    /// which is the reason version 3 exists.
    /// </remarks>
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void The_golden_file_of_each_version_decodes_to_its_text(int version)
    {
        var container = File.ReadAllBytes(GoldenPath($"golden.v{version}.tsec"));
        Assert.Equal(version, container[4]);
        var info = EntropyCodec.ReadInfo(container);
        Assert.Equal("terse1M", info.ModelName);
        Assert.Equal(Text, EntropyCompression.Decompress(container, model: null, tokenizer: null));
    }

    /// <summary>
    /// The version byte chooses the probabilities: version 3's file read as version 2 (the fast
    /// arithmetic), or version 4's read as version 3 (the model without the mixer), gets other
    /// tables and fails.
    /// </summary>
    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void The_version_decides_which_probabilities_decode(int version)
    {
        var container = File.ReadAllBytes(GoldenPath($"golden.v{version}.tsec"));
        container[4] = (byte)(version - 1);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(container.AsSpan(container.Length - 4),
            Terse.IO.Crc32C.Compute(container.AsSpan(0, container.Length - 4)));
        var error = Assert.Throws<InvalidDataException>(() => EntropyCompression.Decompress(container, model: null, tokenizer: null));
        Assert.Contains("corrupt", error.Message);
    }

    [Fact]
    public void Compressing_the_golden_text_again_gives_the_current_versions_file_byte_for_byte()
    {
        var expected = File.ReadAllBytes(GoldenPath($"golden.v{EntropyContainer.Version}.tsec"));
        var (container, _) = EntropyCompression.Compress(Text, EntropyCodec.ReadInfo(expected).ModelName, tokenizer: null);
        Assert.Equal(expected, container);
    }
}
