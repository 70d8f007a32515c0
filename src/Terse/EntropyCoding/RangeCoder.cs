using System.Buffers;

namespace Terse.EntropyCoding;

/// <summary>
/// Constants shared by <see cref="RangeEncoder"/> and <see cref="RangeDecoder"/>: a range coder
/// whose interval is 56 bits wide and is renormalised a byte at a time while it is narrower than 48 bits.
/// </summary>
/// <remarks>
/// Why 56/48 bits: with frequency totals up to 2^28 (so that a 200k-token vocabulary keeps every
/// token at frequency ≥ 1 and loses under 0.1 % of the probability mass to that floor), the step
/// <c>range / total</c> is still at least 2^20, so the truncation in that division costs at most
/// about 2^-20 / ln 2 bits per symbol. Every product stays below 2^56 and the low end plus its carry
/// bit fits in a <see cref="ulong"/>, so there is no 128-bit arithmetic.
/// </remarks>
internal static class RangeCoding
{
    /// <summary>Largest supported frequency total is 2^MaxTotalBits.</summary>
    public const int MaxTotalBits = 28;

    internal const int IntervalBits = 56;
    internal const int IntervalBytes = IntervalBits / 8;
    internal const ulong IntervalMask = (1UL << IntervalBits) - 1;
    internal const ulong RenormaliseBelow = 1UL << (IntervalBits - 8);
    internal const int TopByteShift = IntervalBits - 8;

    internal static void CheckSymbol(uint cumulative, uint frequency, uint total)
    {
        if (total == 0 || total > 1u << MaxTotalBits)
            throw new ArgumentOutOfRangeException(nameof(total), total, $"frequency total must be in 1..2^{MaxTotalBits}");
        if (frequency == 0 || cumulative >= total || frequency > total - cumulative)
            throw new ArgumentOutOfRangeException(nameof(frequency), $"symbol interval [{cumulative}, {cumulative}+{frequency}) is empty or outside [0, {total})");
    }
}

/// <summary>
/// Encodes symbols given as intervals <c>[cumulative, cumulative + frequency)</c> of an integer
/// total. Carries into bytes already produced are handled with the cached byte and a count of
/// pending 0xFF bytes (as in LZMA's coder), so output is a plain byte sequence.
/// </summary>
internal sealed class RangeEncoder
{
    private readonly ArrayBufferWriter<byte> output;
    private ulong low;            // the interval's low end; bit 56 is a carry not yet propagated
    private ulong range = RangeCoding.IntervalMask;
    private byte cache;           // the last byte that a later carry may still increment
    private bool hasCache;        // false until the first byte: the number is < 1, so no carry reaches before it
    private long pendingFF;       // 0xFF bytes after the cache, which a carry would turn into 0x00
    private bool finished;

    public RangeEncoder(int capacityHint = 256) => output = new ArrayBufferWriter<byte>(Math.Max(16, capacityHint));

    /// <summary>
    /// A lower bound of the finished stream's length: bytes written are final, and
    /// <see cref="Finish"/> drops at most <see cref="RangeCoding.IntervalBytes"/> trailing zeros.
    /// </summary>
    public long MinimumLength => output.WrittenCount + (hasCache ? 1 : 0) + pendingFF - RangeCoding.IntervalBytes;

    public void Encode(uint cumulative, uint frequency, uint total)
    {
        RangeCoding.CheckSymbol(cumulative, frequency, total);
        if (finished)
            throw new InvalidOperationException("the encoder has already been finished");
        ulong step = range / total;
        low += step * cumulative;
        range = step * frequency;
        while (range < RangeCoding.RenormaliseBelow)
        {
            range <<= 8;
            ShiftLow();
        }
    }

    /// <summary>
    /// Ends the stream and returns it. The final value is chosen inside the interval with as many
    /// trailing zero bits as possible, and its trailing zero bytes (at most
    /// <see cref="RangeCoding.IntervalBytes"/>) are dropped: the decoder reads zeros past the end,
    /// so a short final interval costs no padding, and a decoder of a valid stream never reads more
    /// than IntervalBytes past its end.
    /// </summary>
    public byte[] Finish()
    {
        if (finished)
            throw new InvalidOperationException("the encoder has already been finished");
        finished = true;
        for (int shift = RangeCoding.IntervalBits; shift > 0; shift -= 8)
        {
            ulong unit = 1UL << shift;
            ulong rounded = (low + unit - 1) & ~(unit - 1);
            if (rounded - low < range)
            {
                low = rounded;
                break;
            }
        }
        // The low end holds IntervalBytes bytes and one more is in the cache: push all of them out.
        for (int i = 0; i <= RangeCoding.IntervalBytes; i++)
            ShiftLow();
        var written = output.WrittenSpan;
        int length = written.Length;
        while (length > 0 && written[length - 1] == 0 && written.Length - length < RangeCoding.IntervalBytes)
            length--;
        return written[..length].ToArray();
    }

    private void ShiftLow()
    {
        bool carry = low > RangeCoding.IntervalMask;
        bool topByteFinal = (low & RangeCoding.IntervalMask) < 0xFFUL << RangeCoding.TopByteShift;
        if (carry || topByteFinal)
        {
            byte carryByte = carry ? (byte)1 : (byte)0;
            if (hasCache)
                Write((byte)(cache + carryByte));
            for (; pendingFF > 0; pendingFF--)
                Write((byte)(0xFF + carryByte));
            cache = (byte)(low >> RangeCoding.TopByteShift);
            hasCache = true;
        }
        else
        {
            pendingFF++;
        }
        low = (low << 8) & RangeCoding.IntervalMask;
    }

    private void Write(byte value)
    {
        output.GetSpan(1)[0] = value;
        output.Advance(1);
    }
}

/// <summary>
/// Decodes what <see cref="RangeEncoder"/> wrote, given the same sequence of frequency tables.
/// Reads past the end of the input as zeros (the encoder drops trailing zeros). Every step is
/// bounded, so corrupt input yields wrong symbols or an <see cref="InvalidDataException"/>, never a hang.
/// </summary>
internal ref struct RangeDecoder
{
    private readonly ReadOnlySpan<byte> input;
    private long position;        // may run past input.Length: those bytes read as zero
    private ulong range;
    private ulong code;           // the coded value minus the interval's low end; always < range
    private ulong step;
    private uint pendingTotal;

    public RangeDecoder(ReadOnlySpan<byte> input)
    {
        this.input = input;
        range = RangeCoding.IntervalMask;
        for (int i = 0; i < RangeCoding.IntervalBytes; i++)
            code = (code << 8) | NextByte();
    }

    /// <summary>Number of input bytes consumed (counting the implicit zeros past the end).</summary>
    public readonly long Position => position;

    /// <summary>
    /// Throws if the decoder has read further past the end than any valid stream makes it: the
    /// check that stops a corrupt stream from decoding "forever" out of the implicit zeros.
    /// </summary>
    public readonly void CheckNotBeyondEnd()
    {
        if (position > input.Length + RangeCoding.IntervalBytes)
            throw new InvalidDataException("corrupt entropy-coded stream: it ends before its symbols do");
    }

    /// <summary>
    /// First half of decoding a symbol: the value in [0, total) whose interval holds the symbol.
    /// Then call <see cref="Consume"/> with that symbol's interval.
    /// </summary>
    public uint GetTarget(uint total)
    {
        if (total == 0 || total > 1u << RangeCoding.MaxTotalBits)
            throw new ArgumentOutOfRangeException(nameof(total), total, $"frequency total must be in 1..2^{RangeCoding.MaxTotalBits}");
        step = range / total;
        ulong target = code / step;
        if (target >= total)
            throw new InvalidDataException("corrupt entropy-coded stream: the coded value lies outside every symbol's interval");
        pendingTotal = total;
        return (uint)target;
    }

    public void Consume(uint cumulative, uint frequency)
    {
        if (pendingTotal == 0)
            throw new InvalidOperationException("Consume must follow GetTarget");
        RangeCoding.CheckSymbol(cumulative, frequency, pendingTotal);
        pendingTotal = 0;
        code -= step * cumulative;
        range = step * frequency;
        if (code >= range)
            throw new InvalidOperationException("the consumed interval does not contain the target returned by GetTarget");
        while (range < RangeCoding.RenormaliseBelow)
        {
            code = (code << 8) | NextByte();
            range <<= 8;
        }
    }

    private ulong NextByte()
    {
        long p = position++;
        return p < input.Length ? input[(int)p] : 0UL;
    }
}
