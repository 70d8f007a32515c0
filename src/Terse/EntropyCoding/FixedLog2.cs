using System.Numerics;

namespace Terse.EntropyCoding;

/// <summary>
/// log2 of a positive integer in Q16 fixed point (16 fraction bits), from integer operations only,
/// so the mixer's inputs are the same bits on every machine (docs/formats.md, "Mixing"): the
/// fraction is found bit by bit by squaring the mantissa, never by a library log.
/// </summary>
internal static class FixedLog2
{
    public const int FractionBits = 16;

    /// <summary>1.0 (one bit) in Q16.</summary>
    public const int One = 1 << FractionBits;

    // Counts and the like are mostly small: a table saves the 16 squarings for them.
    private static readonly int[] Small = BuildSmall(4096);

    /// <summary>⌊log2(x) · 2^16⌋ within one unit (the fraction is truncated at every squaring); x ≥ 1.</summary>
    public static int Of(uint x)
    {
        if (x == 0)
            throw new ArgumentOutOfRangeException(nameof(x), "log2 of 0");
        if (x < (uint)Small.Length)
            return Small[x];
        return Compute(x);
    }

    private static int[] BuildSmall(int size)
    {
        var table = new int[size];
        for (uint x = 1; x < size; x++)
            table[x] = Compute(x);
        return table;
    }

    private static int Compute(uint x)
    {
        int exponent = BitOperations.Log2(x);
        // m / 2^31 is x / 2^exponent, in [1, 2).
        ulong m = (ulong)x << (31 - exponent);
        int fraction = 0;
        for (int bit = FractionBits - 1; bit >= 0; bit--)
        {
            m = (m * m) >> 31;                  // m < 2^32, so m² < 2^64
            if (m >= 1UL << 32)
            {
                m >>= 1;
                fraction |= 1 << bit;
            }
        }
        return (exponent << FractionBits) | fraction;
    }
}
