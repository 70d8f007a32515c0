namespace Terse.Neural.Numerics;

/// <summary>
/// Elementary functions in double precision built from IEEE basic operations only (+, −, ×, ÷,
/// round-to-integral and exact scaling by powers of two), so they return the same bits on every
/// CPU and runtime. Math.Sin, Math.Exp and MathF.Pow come from the C library or the JIT and may
/// differ in the last bit between platforms, which is enough to change a rotary-embedding table and
/// with it every logit the entropy coder sees. Accuracy is a few units in the last place of a
/// double: far below the float rounding their results get. Speed does not matter here: they fill
/// tables once per model.
/// </summary>
internal static class PortableMath
{
    // ln 2 split so that n · Ln2High is exact for |n| < 2^21 (Cody and Waite's reduction).
    private static readonly double Ln2High = BitConverter.Int64BitsToDouble(0x3FE62E42FEE00000);
    private static readonly double Ln2Low = BitConverter.Int64BitsToDouble(0x3DEA39EF35793C76);

    // π/2 in three parts, the first two with 33 significant bits, so k · part is exact for |k| < 2^20.
    private static readonly double HalfPi1 = BitConverter.Int64BitsToDouble(0x3FF921FB54400000);
    private static readonly double HalfPi2 = BitConverter.Int64BitsToDouble(0x3DD0B4611A600000);
    private static readonly double HalfPi3 = BitConverter.Int64BitsToDouble(0x3BA3198A2E037073);
    private const double TwoOverPi = 0.6366197723675814;

    /// <summary>The largest |x| <see cref="Sin"/> and <see cref="Cos"/> reduce exactly (the three-part π/2 above).</summary>
    public const double MaxTrigArgument = 1 << 19;

    /// <summary>e^x for finite x in [−708, 709] (the range of normal doubles).</summary>
    public static double Exp(double x)
    {
        if (!(x >= -708 && x <= 709))
            throw new ArgumentOutOfRangeException(nameof(x), x, "outside [-708, 709]");
        double n = Math.Round(x * 1.4426950408889634);
        double r = (x - n * Ln2High) - n * Ln2Low;         // |r| ≤ ln2/2 + tiny
        // Taylor series of e^r to degree 14: the remainder is below 0.35^15/15! ≈ 1e-19.
        double p = 1.0 / 87178291200;
        for (int k = 13; k >= 1; k--)
            p = p * r + InverseFactorial(k);
        p = p * r + 1.0;
        return p * PowerOfTwo((int)n);
    }

    /// <summary>Natural logarithm of a positive normal x.</summary>
    public static double Log(double x)
    {
        if (!double.IsNormal(x) || x < 0)
            throw new ArgumentOutOfRangeException(nameof(x), x, "must be a positive normal number");
        long bits = BitConverter.DoubleToInt64Bits(x);
        int exponent = (int)((bits >> 52) & 0x7FF) - 1023;
        double m = BitConverter.Int64BitsToDouble((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000);  // [1, 2)
        if (m > 1.4142135623730951)
        {
            m *= 0.5;
            exponent++;
        }
        // log m = 2 atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172: the odd series to s^25 leaves < 1e-20.
        double s = (m - 1) / (m + 1);
        double s2 = s * s;
        double series = 1.0 / 25;
        for (int k = 23; k >= 1; k -= 2)
            series = series * s2 + 1.0 / k;
        return exponent * Ln2High + (2 * s * series + exponent * Ln2Low);
    }

    /// <summary>x^y for positive normal x, as e^(y · log x).</summary>
    public static double Pow(double x, double y) => Exp(y * Log(x));

    public static double Sin(double x) => SinCos(x).Sin;

    public static double Cos(double x) => SinCos(x).Cos;

    /// <summary>Sine and cosine for |x| ≤ <see cref="MaxTrigArgument"/>.</summary>
    public static (double Sin, double Cos) SinCos(double x)
    {
        if (!(Math.Abs(x) <= MaxTrigArgument))
            throw new ArgumentOutOfRangeException(nameof(x), x, $"|x| must be at most {MaxTrigArgument}");
        double k = Math.Round(x * TwoOverPi);
        double r = ((x - k * HalfPi1) - k * HalfPi2) - k * HalfPi3;      // |r| ≤ π/4 + tiny
        double r2 = r * r;
        // Taylor series to degree 21 (sine) and 22 (cosine): remainders below 0.79^23/23! ≈ 1e-24.
        double sin = 0, cos = 0;
        for (int k2 = 21; k2 >= 1; k2 -= 2)
        {
            sin = sin * r2 + Signed(k2);
            cos = cos * r2 + Signed(k2 + 1);
        }
        sin *= r;
        cos = cos * r2 + 1;
        return ((long)k & 3) switch
        {
            0 => (sin, cos),
            1 => (cos, -sin),
            2 => (-sin, -cos),
            _ => (-cos, sin),
        };
    }

    /// <summary>(−1)^⌊k/2⌋ / k!: the Taylor coefficient of r^k in sine (odd k) and cosine (even k).</summary>
    private static double Signed(int k) => (k / 2 % 2 == 0 ? 1 : -1) * InverseFactorial(k);

    /// <summary>1/k!, computed as one division of exact integers (k! is exact in a double up to 22!).</summary>
    private static double InverseFactorial(int k)
    {
        double factorial = 1;
        for (int i = 2; i <= k; i++)
            factorial *= i;
        return 1 / factorial;
    }

    /// <summary>2^n for −1022 ≤ n ≤ 1023, from its exponent bits.</summary>
    private static double PowerOfTwo(int n) => BitConverter.Int64BitsToDouble((long)(n + 1023) << 52);
}
