using System.Buffers.Binary;
using Terse.IO;
using Terse.MetaTokens;

namespace Terse.Tests.MetaTokens;

public class DecoderRobustnessTests
{
    private static readonly TokenizerIdentity Identity = new("test", [9, 8, 7, 6]);

    private static byte[] SampleContainer(bool hierarchical = false)
    {
        var random = new Random(5);
        var block = Enumerable.Range(0, 12).Select(_ => random.Next(300)).ToArray();
        var ids = Enumerable.Range(0, 30).SelectMany(i => block.Append(i)).ToArray();
        return MetaTokenContainer.Write(MetaTokenCompressor.Compress(ids, 300, new MetaTokenOptions { Hierarchical = hierarchical }), Identity);
    }

    private static void WithChecksum(byte[] bytes) =>
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4), Crc32C.Compute(bytes.AsSpan(0, bytes.Length - 4)));

    [Fact]
    public void EveryTruncationIsAClearError()
    {
        var valid = SampleContainer();
        for (int length = 0; length < valid.Length; length++)
        {
            var e = Assert.Throws<InvalidDataException>(() => MetaTokenContainer.Read(valid.AsSpan(0, length)));
            Assert.Matches("container", e.Message);
        }
    }

    [Fact]
    public void EverySingleBitFlipIsDetected()
    {
        foreach (bool hierarchical in new[] { false, true })
        {
            var valid = SampleContainer(hierarchical);
            for (int bit = 0; bit < valid.Length * 8; bit++)
            {
                var corrupt = (byte[])valid.Clone();
                corrupt[bit / 8] ^= (byte)(1 << (bit % 8));
                Assert.Throws<InvalidDataException>(() => MetaTokenContainer.Read(corrupt));
            }
        }
    }

    [Fact]
    public void NamesWhatIsWrong()
    {
        var valid = SampleContainer();
        Assert.Contains("TMTK", Assert.Throws<InvalidDataException>(() => MetaTokenContainer.Read("PK\x03\x04xxxxxxxx"u8)).Message);

        var newer = (byte[])valid.Clone();
        newer[4] = 2;
        Assert.Contains("version 2", Assert.Throws<InvalidDataException>(() => MetaTokenContainer.Read(newer)).Message);

        var trailing = valid[..^4].Concat(new byte[] { 1, 2, 3 }).Concat(new byte[4]).ToArray();
        WithChecksum(trailing);
        Assert.Contains("unexpected bytes", Assert.Throws<InvalidDataException>(() => MetaTokenContainer.Read(trailing)).Message);

        var flipped = (byte[])valid.Clone();
        flipped[^10] ^= 0x40;
        Assert.Contains("CRC-32C", Assert.Throws<InvalidDataException>(() => MetaTokenContainer.Read(flipped)).Message);
    }

    [Fact]
    public void RejectsAWrongStatedLengthEvenWithAValidChecksum()
    {
        // Rewrite the original-token-count varint (it follows name, fingerprint and vocabulary size).
        var sequence = MetaTokenCompressor.Compress([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3], 10);
        var bytes = MetaTokenContainer.Write(sequence, Identity).ToList();
        int at = 6 + 1 + 4 + 1 + 4 + 1; // header, name, fingerprint, vocabulary size 10
        Assert.Equal(12, bytes[at]);
        bytes[at] = 13;
        var tampered = bytes.ToArray();
        WithChecksum(tampered);
        Assert.Contains("header says 13", Assert.Throws<InvalidDataException>(() => MetaTokenContainer.Read(tampered)).Message);
    }

    [Fact]
    public void RefusesAnExpansionBombWithoutAllocatingIt()
    {
        // Each definition doubles the previous one: 2^45 tokens from a few hundred bytes.
        var definitions = new List<int[]> { new[] { 1, 1 } };
        for (int k = 1; k < 45; k++)
            definitions.Add([10 + k - 1, 10 + k - 1]);
        var bomb = new MetaTokenSequence(10, definitions, [10 + 44]);
        Assert.Equal(1L << 45, bomb.OriginalLength);
        var container = MetaTokenContainer.Write(bomb, Identity);
        Assert.Contains("above the limit", Assert.Throws<InvalidDataException>(() => MetaTokenContainer.Read(container)).Message);

        var format = InContextFormat.ForVocabulary(10);
        Assert.Contains("above the limit", Assert.Throws<InvalidDataException>(() => format.Decode(format.Encode(bomb))).Message);
    }

    [Fact]
    public void ContainerFuzz()
    {
        var outcome = MetaTokenFuzzer.FuzzContainer(100_000, seed: 1);
        Assert.True(outcome.Rejected > 50_000, $"too few rejections: {outcome}");
        Assert.True(outcome.Accepted > 0, $"no mutated container was accepted: {outcome}");
    }

    [Fact]
    public void InContextFuzz()
    {
        var outcome = MetaTokenFuzzer.FuzzInContext(100_000, seed: 2);
        Assert.True(outcome.Rejected > 20_000, $"too few rejections: {outcome}");
        Assert.True(outcome.Accepted > 10_000, $"too few accepted: {outcome}");
    }
}
