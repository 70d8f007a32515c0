using Terse.EntropyCoding;
using Terse.IO;
using Terse.MetaTokens;
using Terse.Tokenization;

namespace Terse.Tests.IO;

/// <summary>
/// Decompression bombs (issue 14): a container of a few hundred bytes that declares hundreds of
/// megabytes is refused by its header, before anything of that size is allocated, unless the
/// caller raises the limit. The CLI side is in <c>ReliabilityCliTests</c>.
/// </summary>
public class DecodeLimitTests
{
    /// <summary>Definition k is meta-token k−1 twice: 2^<paramref name="doublings"/> copies of <paramref name="token"/>.</summary>
    internal static byte[] DoublingBomb(Tokenizer tokenizer, int token, int doublings)
    {
        int v = tokenizer.VocabularySize;
        var definitions = new List<int[]> { new[] { token, token } };
        for (int k = 1; k < doublings; k++)
            definitions.Add([v + k - 1, v + k - 1]);
        return MetaTokenContainer.Write(new MetaTokenSequence(v, definitions, [v + doublings - 1]), TokenizerIdentity.Of(tokenizer));
    }

    [Fact]
    public void TheDefaultLimitIsRelativeToTheContainerWithAFloor()
    {
        Assert.Equal(64L << 20, DecodeLimits.For(260));
        Assert.Equal(1L << 30, DecodeLimits.For(1L << 20));
        Assert.Equal(Array.MaxLength, DecodeLimits.For(10L << 20));
        Assert.Equal(Array.MaxLength, DecodeLimits.For(long.MaxValue));
    }

    [Fact]
    public void AMetaTokenBombIsRefusedByItsHeaderWithoutAllocatingIt()
    {
        var tokenizer = TokenizerRegistry.Load("cl100k_base");
        var bomb = DoublingBomb(tokenizer, tokenizer.Encode("a")[0], 28); // 2^28 tokens, 256 MiB
        Assert.True(bomb.Length < 300, $"{bomb.Length} bytes");
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() => MetaTokenContainer.Read(bomb));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "the refusal allocated more than 1 MiB");
        Assert.True(e.Data.Contains(DecodeLimits.ExceededKey));
        Assert.Contains("268,435,456 tokens, above the limit of 67,108,864", e.Message);

        // A caller that trusts the file raises the limit (reading the dictionary does not expand it).
        Assert.Equal(1L << 28, MetaTokenContainer.Read(bomb, 1L << 28).Sequence.OriginalLength);
    }

    /// <summary>A well-formed entropy-coded container of a few dozen bytes that declares <paramref name="originalLength"/> bytes.</summary>
    internal static byte[] EntropyBomb(int originalLength) => EntropyContainer.Write(new ContainerHeader
    {
        ModelName = "terse1M",
        ModelIdentity = new byte[32],
        TokenizerName = "stories260K",
        TokenizerFingerprint = new byte[32],
        FrequencyTotalBits = 28,
        Context = new ContextPolicy(256, 64),
        OriginalLength = originalLength,
        OriginalCrc = 0,
        Chunks = [new ChunkEntry(ChunkMode.Stored, 3, 0)],
    }, [new byte[] { 1, 2, 3 }]);

    [Fact]
    public void AnEntropyContainerDeclaringMoreThanTheLimitIsRefusedBeforeTheModelLoads()
    {
        var bomb = EntropyBomb(int.MaxValue);
        Assert.True(bomb.Length < 200, $"{bomb.Length} bytes");
        var e = Assert.Throws<InvalidDataException>(() => EntropyCompression.Decompress(bomb, null, null));
        Assert.True(e.Data.Contains(DecodeLimits.ExceededKey), e.Message);
        Assert.Contains("2,147,483,647 bytes, above the limit of 67,108,864", e.Message);
    }
}
