using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Terse.Neural.Numerics;

/// <summary>
/// Four float lanes, the unit <see cref="Portable"/>'s kernels compute in. Every operation is the
/// IEEE operation lane by lane, so the two implementations give the same bits:
/// <see cref="HardwareQuad"/> (a Vector128: SSE on x64, NEON on ARM64) and <see cref="SoftwareQuad"/>
/// (four scalars, for machines or settings without vector hardware, where .NET's own Vector128
/// fallback is some thirty times slower than plain scalar code). Kernels are generic over it, so
/// each formula is written once and the JIT compiles it for both.
/// </summary>
internal interface IQuad<TSelf> where TSelf : struct, IQuad<TSelf>
{
    static abstract TSelf Load(ref float source);
    static abstract void Store(TSelf value, ref float destination);
    static abstract TSelf Broadcast(float value);
    static abstract TSelf operator +(TSelf a, TSelf b);
    static abstract TSelf operator -(TSelf a, TSelf b);
    static abstract TSelf operator *(TSelf a, TSelf b);
    static abstract TSelf operator /(TSelf a, TSelf b);
    static abstract TSelf operator -(TSelf a);
    static abstract float Lane(TSelf value, int lane);

    /// <summary>Each lane limited to [low, high] by comparisons: NaN stays NaN.</summary>
    static abstract TSelf Clamp(TSelf x, float low, float high);

    /// <summary>
    /// Lanes holding 1.5·2^23 + n for integers n in −126…127 (the rounding trick of the portable
    /// exponential) → 2^n, made from n's bits: exact.
    /// </summary>
    static abstract TSelf PowerOfTwo(TSelf shifted);
}

internal readonly struct HardwareQuad(Vector128<float> value) : IQuad<HardwareQuad>
{
    private readonly Vector128<float> value = value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static HardwareQuad Load(ref float source) => new(Vector128.LoadUnsafe(ref source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(HardwareQuad quad, ref float destination) => quad.value.StoreUnsafe(ref destination);

    public static HardwareQuad Broadcast(float value) => new(Vector128.Create(value));
    public static HardwareQuad operator +(HardwareQuad a, HardwareQuad b) => new(a.value + b.value);
    public static HardwareQuad operator -(HardwareQuad a, HardwareQuad b) => new(a.value - b.value);
    public static HardwareQuad operator *(HardwareQuad a, HardwareQuad b) => new(a.value * b.value);
    public static HardwareQuad operator /(HardwareQuad a, HardwareQuad b) => new(a.value / b.value);
    public static HardwareQuad operator -(HardwareQuad a) => new(-a.value);
    public static float Lane(HardwareQuad quad, int lane) => quad.value.GetElement(lane);

    public static HardwareQuad Clamp(HardwareQuad x, float low, float high)
    {
        var v = x.value;
        v = Vector128.ConditionalSelect(Vector128.GreaterThan(v, Vector128.Create(high)), Vector128.Create(high), v);
        return new(Vector128.ConditionalSelect(Vector128.LessThan(v, Vector128.Create(low)), Vector128.Create(low), v));
    }

    public static HardwareQuad PowerOfTwo(HardwareQuad shifted) =>
        new(((shifted.value.AsInt32() - Vector128.Create(Quad.ShiftBits) + Vector128.Create(127)) << 23).AsSingle());
}

internal readonly struct SoftwareQuad(float x0, float x1, float x2, float x3) : IQuad<SoftwareQuad>
{
    private readonly float x0 = x0, x1 = x1, x2 = x2, x3 = x3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static SoftwareQuad Load(ref float source) =>
        new(source, Unsafe.Add(ref source, 1), Unsafe.Add(ref source, 2), Unsafe.Add(ref source, 3));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(SoftwareQuad quad, ref float destination)
    {
        destination = quad.x0;
        Unsafe.Add(ref destination, 1) = quad.x1;
        Unsafe.Add(ref destination, 2) = quad.x2;
        Unsafe.Add(ref destination, 3) = quad.x3;
    }

    public static SoftwareQuad Broadcast(float value) => new(value, value, value, value);
    public static SoftwareQuad operator +(SoftwareQuad a, SoftwareQuad b) => new(a.x0 + b.x0, a.x1 + b.x1, a.x2 + b.x2, a.x3 + b.x3);
    public static SoftwareQuad operator -(SoftwareQuad a, SoftwareQuad b) => new(a.x0 - b.x0, a.x1 - b.x1, a.x2 - b.x2, a.x3 - b.x3);
    public static SoftwareQuad operator *(SoftwareQuad a, SoftwareQuad b) => new(a.x0 * b.x0, a.x1 * b.x1, a.x2 * b.x2, a.x3 * b.x3);
    public static SoftwareQuad operator /(SoftwareQuad a, SoftwareQuad b) => new(a.x0 / b.x0, a.x1 / b.x1, a.x2 / b.x2, a.x3 / b.x3);
    public static SoftwareQuad operator -(SoftwareQuad a) => new(-a.x0, -a.x1, -a.x2, -a.x3);
    public static float Lane(SoftwareQuad quad, int lane) => lane switch { 0 => quad.x0, 1 => quad.x1, 2 => quad.x2, _ => quad.x3 };

    public static SoftwareQuad Clamp(SoftwareQuad x, float low, float high) =>
        new(Clamp(x.x0, low, high), Clamp(x.x1, low, high), Clamp(x.x2, low, high), Clamp(x.x3, low, high));

    private static float Clamp(float x, float low, float high)
    {
        x = x > high ? high : x;
        return x < low ? low : x;
    }

    public static SoftwareQuad PowerOfTwo(SoftwareQuad shifted) =>
        new(PowerOfTwo(shifted.x0), PowerOfTwo(shifted.x1), PowerOfTwo(shifted.x2), PowerOfTwo(shifted.x3));

    private static float PowerOfTwo(float shifted) =>
        BitConverter.Int32BitsToSingle((BitConverter.SingleToInt32Bits(shifted) - Quad.ShiftBits + 127) << 23);
}

internal static class Quad
{
    /// <summary>1.5·2^23: adding it to |x| &lt; 2^22 rounds x to an integer (ties to even) kept in the low mantissa bits.</summary>
    public const float Shift = 12582912f;

    /// <summary>The bits of <see cref="Shift"/>.</summary>
    public const int ShiftBits = 0x4B400000;
}
