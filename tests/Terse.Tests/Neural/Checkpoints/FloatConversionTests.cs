using Terse.Neural.Checkpoints;

namespace Terse.Tests.Neural.Checkpoints;

public class FloatConversionTests
{
    /// <summary>The exact value of a binary16 pattern, computed from its fields (independent of System.Half).</summary>
    private static double HalfValue(ushort bits)
    {
        int sign = bits >> 15 == 0 ? 1 : -1;
        int exponent = (bits >> 10) & 0x1F;
        int mantissa = bits & 0x3FF;
        if (exponent == 0x1F)
            return mantissa == 0 ? sign * double.PositiveInfinity : double.NaN;
        return exponent == 0 ? sign * mantissa * Math.Pow(2, -24) : sign * (1024 + mantissa) * Math.Pow(2, exponent - 25);
    }

    /// <summary>The exact value of a bfloat16 pattern, computed from its fields.</summary>
    private static double BFloat16Value(ushort bits)
    {
        int sign = bits >> 15 == 0 ? 1 : -1;
        int exponent = (bits >> 7) & 0xFF;
        int mantissa = bits & 0x7F;
        if (exponent == 0xFF)
            return mantissa == 0 ? sign * double.PositiveInfinity : double.NaN;
        return exponent == 0 ? sign * mantissa * Math.Pow(2, -133) : sign * (128 + mantissa) * Math.Pow(2, exponent - 134);
    }

    private static readonly (Func<float, ushort> Narrow, Func<ushort, float> Widen, Func<ushort, double> Value, TensorDType DType, ushort Infinity)[] Formats =
    [
        (FloatConversion.SingleToHalfBits, FloatConversion.HalfBitsToSingle, HalfValue, TensorDType.F16, 0x7C00),
        (FloatConversion.SingleToBFloat16Bits, FloatConversion.BFloat16BitsToSingle, BFloat16Value, TensorDType.BF16, 0x7F80),
    ];

    [Fact]
    public void WideningIsExactForEveryPattern()
    {
        foreach (var format in Formats)
        {
            for (int bits = 0; bits <= 0xFFFF; bits++)
            {
                float widened = format.Widen((ushort)bits);
                double expected = format.Value((ushort)bits);
                if (double.IsNaN(expected))
                {
                    Assert.True(float.IsNaN(widened), $"{format.DType} {bits:x4} should widen to NaN");
                    Assert.Equal(bits >> 15 == 1, float.IsNegative(widened));
                }
                else
                {
                    Assert.Equal(expected, (double)widened);
                }
            }
        }
    }

    [Fact]
    public void NarrowingRoundsToNearestWithTiesToEvenAndKeepsRepresentableValues()
    {
        foreach (var format in Formats)
        {
            for (int bits = 0; bits < format.Infinity; bits++)
            {
                foreach (int sign in new[] { 0, 0x8000 })
                {
                    ushort low = (ushort)(bits | sign);
                    ushort high = (ushort)((bits + 1) | sign); // the next magnitude up (infinity after the largest finite value)
                    float lowValue = format.Widen(low);
                    Assert.Equal(low, format.Narrow(lowValue));

                    // The midpoint needs one more significand bit than the format has, so float32 holds it exactly.
                    // Above the largest finite value the next step would be one ulp further (it rounds to infinity).
                    double lowExact = format.Value(low);
                    double highExact = bits + 1 == format.Infinity
                        ? lowExact + (lowExact - format.Value((ushort)((bits - 1) | sign)))
                        : format.Value(high);
                    double midpoint = (lowExact + highExact) / 2;
                    float tie = (float)midpoint;
                    Assert.Equal(midpoint, (double)tie);
                    ushort even = (bits & 1) == 0 ? low : high;
                    Assert.Equal(even, format.Narrow(tie));
                    Assert.Equal(low, format.Narrow(MathF.BitDecrement(Math.Abs(tie)) * (sign == 0 ? 1 : -1)));
                    Assert.Equal(high, format.Narrow(MathF.BitIncrement(Math.Abs(tie)) * (sign == 0 ? 1 : -1)));
                }
            }
        }
    }

    [Fact]
    public void NarrowingHandlesInfinityNaNAndOverflow()
    {
        foreach (var format in Formats)
        {
            Assert.Equal(format.Infinity, format.Narrow(float.PositiveInfinity));
            Assert.Equal((ushort)(format.Infinity | 0x8000), format.Narrow(float.NegativeInfinity));
            Assert.Equal(format.Infinity, format.Narrow(float.MaxValue));
            Assert.Equal((ushort)(format.Infinity | 0x8000), format.Narrow(-float.MaxValue));
            foreach (uint nan in new uint[] { 0x7FC0_0000, 0x7F80_0001, 0xFF80_0001, 0x7FFF_FFFF, 0xFFC0_1234, 0x7F80_8000 })
            {
                float value = BitConverter.UInt32BitsToSingle(nan);
                ushort narrowed = format.Narrow(value);
                Assert.True(double.IsNaN(format.Value(narrowed)), $"{format.DType}: NaN {nan:x8} became {narrowed:x4}");
                Assert.Equal(nan >> 31 == 1, narrowed >> 15 == 1);
            }
        }
        Assert.Equal(65504f, FloatConversion.HalfBitsToSingle(FloatConversion.SingleToHalfBits(65519.99f)));
        Assert.Equal((ushort)0x7C00, FloatConversion.SingleToHalfBits(65520f));
        Assert.Equal((ushort)0x0000, FloatConversion.SingleToHalfBits(MathF.Pow(2, -25))); // a tie with zero rounds to even zero
        Assert.Equal((ushort)0x0001, FloatConversion.SingleToHalfBits(MathF.BitIncrement(MathF.Pow(2, -25))));
    }

    [Fact]
    public void NarrowingOfRandomFloatsPicksANearestNeighbour()
    {
        var random = new Random(20240611);
        foreach (var format in Formats)
        {
            for (int i = 0; i < 100_000; i++)
            {
                float value = BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32));
                if (float.IsNaN(value))
                    continue;
                ushort narrowed = format.Narrow(value);
                double error = Math.Abs(value - format.Value(narrowed));
                if (double.IsInfinity(format.Value(narrowed)))
                    continue; // checked against the overflow threshold above
                foreach (int step in new[] { -1, 1 })
                {
                    int neighbour = (narrowed & 0x7FFF) + step;
                    if (neighbour < 0 || neighbour >= format.Infinity)
                        continue;
                    double other = format.Value((ushort)(neighbour | (narrowed & 0x8000)));
                    Assert.True(error <= Math.Abs(value - other), $"{format.DType}: {value:R} → {narrowed:x4} but {neighbour:x4} is closer");
                }
            }
        }
    }

    [Fact]
    public void BulkConversionsAgreeWithTheScalarOnesForEveryLength()
    {
        var random = new Random(7);
        foreach (var format in Formats)
        {
            for (int length = 0; length <= 70; length++)
            {
                var values = new float[length];
                for (int i = 0; i < length; i++)
                    values[i] = random.Next(4) switch
                    {
                        0 => BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32)),
                        1 => float.NaN,
                        2 => (float)(random.NextDouble() * 200 - 100),
                        _ => MathF.Pow(2, random.Next(-140, 128)) * (random.Next(2) * 2 - 1),
                    };
                var bytes = new byte[length * 2];
                FloatConversion.Encode(format.DType, values, bytes);
                var widened = new float[length];
                FloatConversion.Decode(format.DType, bytes, widened);
                for (int i = 0; i < length; i++)
                {
                    ushort bits = BitConverter.ToUInt16(bytes, 2 * i);
                    ushort scalar = format.Narrow(values[i]);
                    if (float.IsNaN(values[i]))
                        Assert.True(double.IsNaN(format.Value(bits)));
                    else
                        Assert.Equal(scalar, bits);
                    Assert.Equal(BitConverter.SingleToUInt32Bits(format.Widen(bits)), BitConverter.SingleToUInt32Bits(widened[i]));
                }
            }
        }
    }

    [Fact]
    public void Float64DecodesByRoundingAndEncodesExactly()
    {
        var values = new[] { 1.0f, -2.5f, float.Epsilon, float.MaxValue, float.NegativeInfinity };
        var bytes = new byte[values.Length * 8];
        FloatConversion.Encode(TensorDType.F64, values, bytes);
        var back = new float[values.Length];
        FloatConversion.Decode(TensorDType.F64, bytes, back);
        Assert.Equal(values, back);

        var third = BitConverter.GetBytes(1.0 / 3.0);
        var decoded = new float[1];
        FloatConversion.Decode(TensorDType.F64, third, decoded);
        Assert.Equal(1.0f / 3.0f, decoded[0]);
        Assert.Throws<InvalidOperationException>(() => FloatConversion.Decode(TensorDType.I32, new byte[4], new float[1]));
    }
}
