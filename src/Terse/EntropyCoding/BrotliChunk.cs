using System.Buffers;
using System.IO.Compression;

namespace Terse.EntropyCoding;

/// <summary>
/// The general-purpose fallback of a chunk (mode <see cref="ChunkMode.Brotli"/>): the BCL's Brotli
/// at its best quality. Where the model predicts a text badly (logs, code, text unlike its
/// training), Brotli's repeated strings and static dictionary often beat it. Deflate was measured
/// too and never won: Brotli was smaller on all 86 chunks of 16 KiB of the shared texts.
/// </summary>
internal static class BrotliChunk
{
    private const int Quality = 11;
    private const int Window = 22;

    /// <summary>The chunk as a Brotli stream, or null when that would take more than <paramref name="budget"/> bytes.</summary>
    public static byte[]? Pack(ReadOnlySpan<byte> chunk, int budget)
    {
        if (budget < 1)
            return null;
        var buffer = ArrayPool<byte>.Shared.Rent(budget);
        try
        {
            return BrotliEncoder.TryCompress(chunk, buffer.AsSpan(0, budget), out int written, Quality, Window)
                ? buffer.AsSpan(0, written).ToArray()
                : null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The <paramref name="length"/> bytes a Brotli stream holds. The stream must end exactly where
    /// the payload does and give exactly that many bytes; anything else is corruption.
    /// </summary>
    public static byte[] Unpack(ReadOnlySpan<byte> payload, int length)
    {
        var output = new byte[length];
        using var decoder = new BrotliDecoder();
        var status = decoder.Decompress(payload, output, out int consumed, out int written);
        return status switch
        {
            OperationStatus.Done when consumed == payload.Length && written == length => output,
            OperationStatus.Done when consumed < payload.Length => throw new InvalidDataException($"{payload.Length - consumed} bytes left over after the Brotli stream"),
            OperationStatus.Done => throw new InvalidDataException($"the Brotli stream gives {written} bytes, not the declared {length}"),
            OperationStatus.DestinationTooSmall => throw new InvalidDataException($"the Brotli stream gives more than the declared {length} bytes"),
            OperationStatus.NeedMoreData => throw new InvalidDataException("the Brotli stream is truncated"),
            _ => throw new InvalidDataException("the Brotli stream is invalid"),
        };
    }
}
