using System.Buffers.Binary;
using Terse.IO;
using Terse.Tokenization.Llama2c;
using Terse.ZTokens;

namespace Terse.Tests.ZTokens;

/// <summary>
/// The TZTK container: strict validation of each field, and fuzzing with random bytes and mutations
/// of valid containers (half of them with the checksum recomputed so the parser behind it is
/// reached). Every input must be rejected with an <see cref="InvalidDataException"/> or, if it parses
/// and decodes, give back exactly the original bytes.
/// </summary>
public class ZTokenContainerTests
{
    private static readonly Lazy<(ZTokenModel Model, ZTokenCompressor Compressor, (byte[] Original, byte[] Container)[] Valid)> Fixture = new(() =>
    {
        var model = ZTokenCodecTests.Stories(50);
        var tokenizer = Llama2cTokenizer.Stories260K;
        var compressor = new ZTokenCompressor(model, tokenizer);
        string[] texts = ["Once upon a time, there was a little girl named Lily. She loved to play outside in the park.", "Hi!", "Tom saw a big red ball. He wanted it."];
        var valid = texts.Select(text =>
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(text);
            return (bytes, compressor.Compress(bytes, tokenizer.Encode(text)).Container);
        }).ToArray();
        return (model, compressor, valid);
    });

    private static void FixChecksum(byte[] container)
    {
        if (container.Length >= 4)
            BinaryPrimitives.WriteUInt32LittleEndian(container.AsSpan(container.Length - 4), Crc32C.Compute(container.AsSpan(0, container.Length - 4)));
    }

    private static byte[] Mutate(byte[] valid, Random random)
    {
        var bytes = (byte[])valid.Clone();
        switch (random.Next(5))
        {
            case 0:
                for (int i = random.Next(1, 4); i > 0; i--)
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                return bytes;
            case 1:
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                return bytes;
            case 2:
                return bytes[..random.Next(bytes.Length)];
            case 4:
                // An extreme integer written over a field (a token count of 2^31−1 once overflowed).
                ulong[] extremes = [0, 1, 127, 128, int.MaxValue, uint.MaxValue, (ulong)int.MaxValue + 1, ulong.MaxValue];
                var varint = new byte[10];
                int length = VarInt.Encode(extremes[random.Next(extremes.Length)], varint);
                int start = random.Next(bytes.Length), replaced = Math.Min(random.Next(1, 4), bytes.Length - start);
                return [.. bytes[..start], .. varint[..length], .. bytes[(start + replaced)..]];
            default:
                int at = random.Next(bytes.Length);
                var extra = new byte[random.Next(1, 6)];
                random.NextBytes(extra);
                return [.. bytes[..at], .. extra, .. bytes[at..]];
        }
    }

    /// <summary>The valid container with its token count replaced by <paramref name="tokens"/> and the checksum fixed.</summary>
    internal static byte[] WithTokenCount(byte[] valid, int tokens)
    {
        var header = ZTokenContainer.ReadHeader(valid);
        using var prefix = new MemoryStream();
        prefix.Write(ZTokenContainer.Magic);
        prefix.WriteByte(ZTokenContainer.Version);
        VarInt.Write(prefix, 0);
        ContainerFields.WriteBinding(prefix, new ModelBinding(header.ModelName, header.ModelIdentity, header.TokenizerName, header.TokenizerFingerprint));
        foreach (int value in new[] { header.BaseVocabulary, header.Codes, header.SegmentLength, header.MaxCodeLength, header.OriginalLength })
            VarInt.Write(prefix, (ulong)value);
        ContainerFields.WriteUInt32(prefix, header.OriginalCrc);
        int at = (int)prefix.Length, end = at;
        VarInt.Read(valid, ref end);
        var count = new byte[10];
        var patched = (byte[])[.. valid[..at], .. count[..VarInt.Encode((ulong)tokens, count)], .. valid[end..]];
        FixChecksum(patched);
        return patched;
    }

    [Fact]
    public void ATokenCountOfTwoToTheThirtyFirstIsRefusedNotAnOverflow()
    {
        var (_, compressor, valid) = Fixture.Value;
        var bomb = WithTokenCount(valid[0].Container, int.MaxValue);
        var e = Assert.Throws<InvalidDataException>(() => compressor.Decompress(bomb));
        Assert.Contains("2147483647 tokens", e.Message);
        Assert.Throws<InvalidDataException>(() => ZTokenCompressor.ReadHeader(bomb));

        var file = Path.Combine(Path.GetTempPath(), $"terse-bomb-{Environment.ProcessId}.tztk");
        try
        {
            File.WriteAllBytes(file, bomb);
            Terse.Tests.Cli.ReliabilityCliTests.AssertOneErrorLine(
                Terse.Tests.MetaTokens.CompressCliTests.Terse([], "decompress", "--ztokens", Path.GetTempPath(), file), "2147483647 tokens");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void RandomAndMutatedContainersAreRejectedCleanlyOrDecodeExactly()
    {
        var (model, compressor, valid) = Fixture.Value;
        var random = new Random(51);
        int parsed = 0, decoded = 0;
        for (int i = 0; i < 20_000; i++)
        {
            byte[] input;
            byte[]? original = null;
            if (random.Next(10) == 0)
            {
                input = new byte[random.Next(0, 64)];
                random.NextBytes(input);
                if (input.Length >= 4 && random.Next(2) == 0)
                    "TZTK"u8.CopyTo(input);
            }
            else
            {
                var (bytes, container) = valid[random.Next(valid.Length)];
                original = bytes;
                input = Mutate(container, random);
            }
            if (random.Next(2) == 0)
                FixChecksum(input);
            try
            {
                ZTokenContainer.Read(input, model.Vocabulary.FirstCode);
                parsed++;
            }
            catch (InvalidDataException e)
            {
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
                continue;
            }
            // Decoding with the model is slower: only a share of the parsed inputs.
            if (original is null || parsed % 8 != 0)
                continue;
            try
            {
                var output = compressor.Decompress(input);
                Assert.Equal(original, output);
                decoded++;
            }
            catch (InvalidDataException e)
            {
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
            }
        }
        Assert.True(parsed > 100, $"only {parsed} inputs parsed: the mutations never reach the decoder");
    }

    /// <summary>A version 1 container written by hand with given fields, its checksum right.</summary>
    private static byte[] Handmade(Action<BitWriter> payload, int tokens = 3, int codes = 16, int segment = 8, int maxCode = 4, int vocabulary = 512, ulong flags = 0)
    {
        var bits = new BitWriter();
        payload(bits);
        return Handmade(bits.ToArray(), tokens, codes, segment, maxCode, vocabulary, flags, version: 1, blockSegments: 0);
    }

    /// <summary>A container of either version written by hand (original length 5), its checksum right; version 2 gets <paramref name="blockSegments"/>.</summary>
    private static byte[] Handmade(byte[] body, int tokens, int codes, int segment, int maxCode, int vocabulary, ulong flags, byte version, int blockSegments)
    {
        using var stream = new MemoryStream();
        stream.Write("TZTK"u8);
        stream.WriteByte(version);
        VarInt.Write(stream, flags);
        foreach (var field in new[] { "m"u8.ToArray(), new byte[32], "t"u8.ToArray(), new byte[32] })
        {
            VarInt.Write(stream, (ulong)field.Length);
            stream.Write(field);
        }
        foreach (int value in new[] { vocabulary, codes, segment, maxCode, 5 })
            VarInt.Write(stream, (ulong)value);
        stream.Write(new byte[4]);
        VarInt.Write(stream, (ulong)tokens);
        if (version != 1)
            VarInt.Write(stream, (ulong)blockSegments);
        VarInt.Write(stream, (ulong)body.Length);
        stream.Write(body);
        stream.Write(new byte[4]);
        var container = stream.ToArray();
        FixChecksum(container);
        return container;
    }

    private static string Rejection(byte[] container) =>
        Assert.Throws<InvalidDataException>(() => ZTokenContainer.Read(container, 512)).Message;

    [Fact]
    public void EachFieldIsValidated()
    {
        // Widths for 16 codes, codes of up to 4, segments of 8, vocabulary 512: length 2, code 4, count 4, position 3, token 9.
        void CodeSegment(BitWriter w, int length, int[] codes, (int Position, int Token)[] corrections)
        {
            w.Write(0, 1);
            w.Write((uint)(length - 1), 2);
            foreach (int c in codes)
                w.Write((uint)c, 4);
            w.Write((uint)corrections.Length, 4);
            foreach (var (p, t) in corrections)
            {
                w.Write((uint)p, 3);
                w.Write((uint)t, 9);
            }
        }
        var good = Handmade(w => CodeSegment(w, 2, [1, 2], [(0, 5), (2, 7)]));
        var (header, payload) = ZTokenContainer.Read(good, 512);
        Assert.Equal(3, header.TokenCount);
        Assert.Equal(1, payload.Version);
        Assert.Equal([513, 514], payload.Segments[0].Code);
        Assert.Equal([0, 2], payload.Segments[0].Corrections.Positions);

        Assert.Contains("magic", Rejection([.. "TZTX"u8, .. good[4..]]));
        var badVersion = (byte[])good.Clone();
        badVersion[4] = 9;
        FixChecksum(badVersion);
        Assert.Contains("version 9", Rejection(badVersion));
        var corrupt = (byte[])good.Clone();
        corrupt[^6] ^= 1;
        Assert.Contains("checksum", Rejection(corrupt));
        Assert.Contains("flags", Rejection(Handmade(w => CodeSegment(w, 1, [1], []), flags: 2)));
        Assert.Contains("correction positions must increase", Rejection(Handmade(w => CodeSegment(w, 1, [1], [(2, 5), (1, 7)]))));
        Assert.Contains("correction positions must increase", Rejection(Handmade(w => CodeSegment(w, 1, [1], [(3, 5)]))));
        Assert.Contains("corrections for 3 tokens", Rejection(Handmade(w => CodeSegment(w, 1, [1], [(0, 1), (1, 1), (2, 1), (2, 1)]))));
        Assert.Contains("outside the vocabulary", Rejection(Handmade(w => CodeSegment(w, 1, [1], [(0, 511)]), vocabulary: 300)));
        Assert.Contains("Z-token 13", Rejection(Handmade(w => CodeSegment(w, 1, [13], []), codes: 12)));
        Assert.Contains("code of 4 Z-tokens", Rejection(Handmade(w => CodeSegment(w, 4, [1, 1, 1, 1], []), maxCode: 3)));
        Assert.Contains("ends inside", Rejection(Handmade(w => w.Write(1, 1))));
        Assert.Contains("unused bytes", Rejection(Handmade(w => { CodeSegment(w, 1, [1], []); w.Write(0, 16); })));
        Assert.Contains("non-zero padding", Rejection(Handmade(w => { CodeSegment(w, 1, [1], []); w.Write(1, 1); })));
        Assert.Contains("more than", Rejection(Handmade(w => CodeSegment(w, 1, [1], []), tokens: 1_000_000)));
        Assert.Contains("impossible shape", Rejection(Handmade(w => CodeSegment(w, 1, [1], []), codes: 1)));
    }

    [Fact]
    public void Version2BlocksAreValidatedBeforeTheModelReadsThem()
    {
        static byte[] Blocks(params byte[][] blocks)
        {
            using var stream = new MemoryStream();
            foreach (var block in blocks)
            {
                VarInt.Write(stream, (ulong)block.Length);
                stream.Write(block);
            }
            return stream.ToArray();
        }
        byte[] Version2(byte[] body, int tokens = 3, int blockSegments = 1, int segment = 8) =>
            Handmade(body, tokens, codes: 16, segment, maxCode: 4, vocabulary: 512, flags: 0, version: 2, blockSegments);

        // 10 tokens in segments of 8 are 2 segments: 2 blocks of 1.
        var (header, payload) = ZTokenContainer.Read(Version2(Blocks([1, 2, 3], [4]), tokens: 10, blockSegments: 1), 512);
        Assert.Equal(2, payload.Version);
        Assert.Equal(2, payload.Blocks.Length);
        Assert.Equal(3, payload.Blocks[0].Length);
        Assert.Equal(1, payload.Blocks[1].Length);
        Assert.Equal(10, header.TokenCount);

        Assert.Contains("blocks of 0 segments", Rejection(Version2(Blocks([1]), blockSegments: 0)));
        Assert.Contains("after its 1 blocks", Rejection(Version2([.. Blocks([1, 2]), 7])));
        Assert.Contains("truncated", Rejection(Version2(Blocks([1, 2]), tokens: 10)));
        Assert.Contains("more than", Rejection(Version2(Blocks([1]), tokens: 100)));   // 100 tokens cannot come from 5 original bytes
        Assert.Contains("segments per block", Rejection(Version2(Blocks([1]), blockSegments: 1 << 20)));
    }

    [Fact]
    public void Version1ContainersStillDecode()
    {
        var (model, compressor, _) = Fixture.Value;
        var tokenizer = Llama2cTokenizer.Stories260K;
        const string text = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
        var ids = tokenizer.Encode(text);
        var codec = new ZTokenCodec(model);
        int n = model.Shape.SegmentLength;
        var segments = Enumerable.Range(0, (ids.Length + n - 1) / n).Select(i =>
        {
            var segment = ids.AsSpan(i * n, Math.Min(n, ids.Length - i * n));
            if (i % 3 == 2)
                return new StoredSegment([], Corrections.None, segment.ToArray());
            var code = codec.Encode(segment);
            return new StoredSegment(code, codec.FindCorrections(code, segment), null);
        }).ToArray();
        var written = compressor.Compress(System.Text.Encoding.UTF8.GetBytes(text), ids).Container;
        var header = ZTokenContainer.ReadHeader(written);
        var old = ZTokenContainer.WriteBitPacked(header, segments, model.Vocabulary.FirstCode);
        Assert.Equal(1, old[4]);
        Assert.Equal(2, written[4]);
        Assert.Equal(System.Text.Encoding.UTF8.GetBytes(text), compressor.Decompress(old));
    }
}
