using System.IO.Compression;
using Terse.IO;

namespace Terse.Tokenization.Tiktoken;

/// <summary>
/// The compact form in which the built-in rank files are embedded in the library (see docs/formats.md):
/// Brotli over <c>"TRK1"</c>, varint rank count, then per rank a varint length (0 = unassigned) and
/// the token bytes. About a third of the base64 text form before compression.
/// </summary>
internal static class CompactRanks
{
    private static ReadOnlySpan<byte> Magic => "TRK1"u8;

    /// <summary>Decompressed size limit: the largest real vocabulary is a few megabytes.</summary>
    private const int MaxDecompressedBytes = 64 << 20;

    public static void Write(IReadOnlyList<byte[]?> tokensByRank, Stream destination)
    {
        using var raw = new MemoryStream();
        raw.Write(Magic);
        VarInt.Write(raw, (ulong)tokensByRank.Count);
        foreach (var token in tokensByRank)
        {
            VarInt.Write(raw, (ulong)(token?.Length ?? 0));
            if (token is not null)
                raw.Write(token);
        }
        using var brotli = new BrotliEncoder(quality: 11, window: 24);
        var input = raw.GetBuffer().AsSpan(0, (int)raw.Length);
        var output = new byte[BrotliEncoder.GetMaxCompressedLength(input.Length)];
        if (brotli.Compress(input, output, out _, out int written, isFinalBlock: true) != System.Buffers.OperationStatus.Done)
            throw new InvalidOperationException("Brotli compression failed");
        destination.Write(output, 0, written);
    }

    public static byte[]?[] Read(Stream compressed, string source)
    {
        byte[] raw;
        try
        {
            using var brotli = new BrotliStream(compressed, CompressionMode.Decompress, leaveOpen: true);
            using var memory = new MemoryStream();
            var buffer = new byte[81920];
            int n;
            while ((n = brotli.Read(buffer)) > 0)
            {
                if (memory.Length + n > MaxDecompressedBytes)
                    throw new InvalidDataException($"{source}: decompresses to more than {MaxDecompressedBytes} bytes");
                memory.Write(buffer, 0, n);
            }
            raw = memory.ToArray();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            throw new InvalidDataException($"{source}: not valid Brotli data ({e.Message})", e);
        }

        var span = raw.AsSpan();
        if (!span.StartsWith(Magic))
            throw new InvalidDataException($"{source}: not a compact rank file (bad magic)");
        int position = Magic.Length;
        // Every rank takes at least its length byte, which bounds the count by what remains.
        ulong count64 = VarInt.Read(span, ref position);
        if (count64 > (ulong)(span.Length - position))
            throw new InvalidDataException($"{source}: {count64} ranks cannot fit in the {span.Length - position} bytes that remain");
        int count = (int)count64;
        var tokens = new byte[]?[count];
        for (int rank = 0; rank < count; rank++)
        {
            ulong length = VarInt.Read(span, ref position);
            if (length > (ulong)(span.Length - position))
                throw new InvalidDataException($"{source}: rank {rank} is {length} bytes long, more than the {span.Length - position} that remain");
            if (length > 0)
            {
                tokens[rank] = span.Slice(position, (int)length).ToArray();
                position += (int)length;
            }
        }
        if (position != span.Length)
            throw new InvalidDataException($"{source}: {span.Length - position} bytes after the last rank");
        return tokens;
    }
}
