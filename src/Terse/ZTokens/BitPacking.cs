namespace Terse.ZTokens;

/// <summary>Fixed-width unsigned fields packed least-significant bit first.</summary>
internal sealed class BitWriter
{
    private readonly List<byte> _bytes = [];
    private ulong _buffer;
    private int _bits;

    public long BitLength => _bytes.Count * 8L + _bits;

    public void Write(uint value, int width)
    {
        if (width == 0)
            return;
        if (width is < 0 or > 32 || (width < 32 && value >> width != 0))
            throw new ArgumentOutOfRangeException(nameof(value), value, $"does not fit in {width} bits");
        _buffer |= (ulong)value << _bits;
        _bits += width;
        while (_bits >= 8)
        {
            _bytes.Add((byte)_buffer);
            _buffer >>= 8;
            _bits -= 8;
        }
    }

    /// <summary>The bytes written, the last padded with zero bits.</summary>
    public byte[] ToArray()
    {
        var result = new byte[(_bytes.Count * 8 + _bits + 7) / 8];
        _bytes.CopyTo(result);
        if (_bits > 0)
            result[^1] = (byte)_buffer;
        return result;
    }

    /// <summary>Bits needed to store every value in 0..maximum (0 when the maximum is 0).</summary>
    public static int WidthFor(int maximum) => maximum <= 0 ? 0 : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)maximum);
}

/// <summary>Reads what <see cref="BitWriter"/> wrote; running past the end is an <see cref="InvalidDataException"/>.</summary>
internal ref struct BitReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private long _position;

    public readonly long RemainingBits => _data.Length * 8L - _position;

    public uint Read(int width, string what)
    {
        if (width == 0)
            return 0;
        if (width > RemainingBits)
            throw new InvalidDataException($"Z-token payload ends inside {what}");
        uint value = 0;
        for (int i = 0; i < width; i++, _position++)
            value |= (uint)((_data[(int)(_position >> 3)] >> (int)(_position & 7)) & 1) << i;
        return value;
    }

    /// <summary>Checks that only zero padding (less than a byte) is left.</summary>
    public readonly void RequireEnd()
    {
        if (RemainingBits >= 8)
            throw new InvalidDataException($"Z-token payload has {RemainingBits / 8} unused bytes after the last segment");
        for (long p = _position; p < _data.Length * 8L; p++)
            if (((_data[(int)(p >> 3)] >> (int)(p & 7)) & 1) != 0)
                throw new InvalidDataException("Z-token payload has non-zero padding after the last segment");
    }
}
