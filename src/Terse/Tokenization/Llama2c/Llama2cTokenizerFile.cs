using System.Buffers.Binary;

namespace Terse.Tokenization.Llama2c;

/// <summary>
/// The raw content of a llama2.c <c>tokenizer.bin</c>: <c>int32 max_token_length</c>, then per token
/// <c>float32 score, int32 length, length bytes</c>, little-endian. The file does not store the token
/// count (run.c takes it from the model header), so the reader either reads a given count or reads
/// entries until the file ends exactly.
/// </summary>
internal sealed record Llama2cTokenizerFile(int MaxTokenLength, byte[][] Pieces, float[] Scores)
{
    /// <summary>No real vocabulary comes near this; it bounds work on hostile input.</summary>
    public const int MaxTokenCount = 1 << 22;

    public static Llama2cTokenizerFile Parse(ReadOnlySpan<byte> data, int? tokenCount)
    {
        if (tokenCount is < 1 or > MaxTokenCount)
            throw new ArgumentOutOfRangeException(nameof(tokenCount), tokenCount, $"token count must be between 1 and {MaxTokenCount}");
        if (data.Length < 4)
            throw new InvalidDataException($"llama2.c tokenizer: file is {data.Length} bytes, too short for the 4-byte max_token_length header");
        int maxTokenLength = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (maxTokenLength < 0)
            throw new InvalidDataException($"llama2.c tokenizer: max_token_length in the header is negative ({maxTokenLength})");

        var pieces = new List<byte[]>(tokenCount ?? Math.Min(data.Length / 8, 65536));
        var scores = new List<float>(pieces.Capacity);
        int position = 4;
        while (tokenCount is { } wanted ? pieces.Count < wanted : position < data.Length)
        {
            int index = pieces.Count;
            if (pieces.Count == MaxTokenCount)
                throw new InvalidDataException($"llama2.c tokenizer: more than {MaxTokenCount} tokens");
            if (data.Length - position < 8)
            {
                throw new InvalidDataException(position == data.Length
                    ? $"llama2.c tokenizer: file ends after {index} tokens, expected {tokenCount}"
                    : $"llama2.c tokenizer: token {index} at offset {position} is truncated ({data.Length - position} bytes left, its score and length need 8)");
            }
            float score = BinaryPrimitives.ReadSingleLittleEndian(data[position..]);
            int length = BinaryPrimitives.ReadInt32LittleEndian(data[(position + 4)..]);
            position += 8;
            if (length < 0)
                throw new InvalidDataException($"llama2.c tokenizer: token {index} at offset {position - 8} has a negative length ({length})");
            if (length > data.Length - position)
                throw new InvalidDataException($"llama2.c tokenizer: token {index} at offset {position - 8} has length {length} but only {data.Length - position} bytes remain");
            if (length > maxTokenLength)
                throw new InvalidDataException($"llama2.c tokenizer: token {index} is {length} bytes, longer than max_token_length {maxTokenLength} in the header");
            var piece = data.Slice(position, length);
            if (piece.Contains((byte)0))
                throw new InvalidDataException($"llama2.c tokenizer: token {index} contains a NUL byte (run.c reads pieces as C strings)");
            pieces.Add(piece.ToArray());
            scores.Add(score);
            position += length;
        }
        if (pieces.Count == 0)
            throw new InvalidDataException("llama2.c tokenizer: the file holds no tokens");
        return new Llama2cTokenizerFile(maxTokenLength, pieces.ToArray(), scores.ToArray());
    }
}
