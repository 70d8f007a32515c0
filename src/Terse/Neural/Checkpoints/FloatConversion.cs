using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Terse.Neural.Checkpoints;

/// <summary>
/// float32 ⇄ float16 / bfloat16 / float64 conversions for tensor data. Narrowing rounds to nearest,
/// ties to even, overflows to infinity and keeps NaN a NaN; widening is exact. Data is little-endian
/// (safetensors' byte order, and the order of every machine .NET runs on).
/// </summary>
internal static class FloatConversion
{
    public static ushort SingleToBFloat16Bits(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u)
            return (ushort)((bits >> 16) | 0x0040); // keep sign and top payload; set the quiet bit so truncation cannot make it infinity
        // Adding 0x7FFF plus the lowest kept bit rounds to nearest with ties to even; a carry out of
        // the mantissa correctly bumps the exponent, up to infinity.
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
    }

    public static float BFloat16BitsToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    // System.Half's conversion from float is correctly rounded (IEEE 754 round-to-nearest-even).
    public static ushort SingleToHalfBits(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    public static float HalfBitsToSingle(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>Decodes <paramref name="source"/> (elements of <paramref name="dtype"/>) into float32.</summary>
    public static void Decode(TensorDType dtype, ReadOnlySpan<byte> source, Span<float> destination)
    {
        CheckLengths(dtype, source.Length, destination.Length);
        switch (dtype)
        {
            case TensorDType.F32:
                source.CopyTo(MemoryMarshal.AsBytes(destination));
                break;
            case TensorDType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source), destination);
                break;
            case TensorDType.BF16:
                BFloat16ToSingle(MemoryMarshal.Cast<byte, ushort>(source), destination);
                break;
            case TensorDType.F64:
                for (int i = 0; i < destination.Length; i++)
                    destination[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(source.Slice(i * 8, 8));
                break;
            default:
                throw NotFloatingPoint(dtype);
        }
    }

    /// <summary>Encodes float32 <paramref name="source"/> as elements of <paramref name="dtype"/>.</summary>
    public static void Encode(TensorDType dtype, ReadOnlySpan<float> source, Span<byte> destination)
    {
        CheckLengths(dtype, destination.Length, source.Length);
        switch (dtype)
        {
            case TensorDType.F32:
                MemoryMarshal.AsBytes(source).CopyTo(destination);
                break;
            case TensorDType.F16:
                TensorPrimitives.ConvertToHalf(source, MemoryMarshal.Cast<byte, Half>(destination));
                break;
            case TensorDType.BF16:
                SingleToBFloat16(source, MemoryMarshal.Cast<byte, ushort>(destination));
                break;
            case TensorDType.F64:
                for (int i = 0; i < source.Length; i++)
                    BinaryPrimitives.WriteDoubleLittleEndian(destination.Slice(i * 8, 8), source[i]);
                break;
            default:
                throw NotFloatingPoint(dtype);
        }
    }

    internal static void SingleToBFloat16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var one = Vector256.Create(1u);
            var roundingBase = Vector256.Create(0x7FFFu);
            var absMask = Vector256.Create(0x7FFF_FFFFu);
            var infinity = Vector256.Create(0x7F80_0000u);
            var quietBit = Vector256.Create(0x0040u);
            var bits = MemoryMarshal.Cast<float, uint>(source);
            for (; i + 16 <= source.Length; i += 16)
            {
                var low = Round(Vector256.Create(bits.Slice(i, 8)));
                var high = Round(Vector256.Create(bits.Slice(i + 8, 8)));
                Vector256.Narrow(low, high).CopyTo(destination.Slice(i, 16));
            }

            Vector256<uint> Round(Vector256<uint> value)
            {
                var upper = Vector256.ShiftRightLogical(value, 16);
                var rounded = Vector256.ShiftRightLogical(value + roundingBase + (upper & one), 16);
                var isNaN = Vector256.GreaterThan(value & absMask, infinity);
                return Vector256.ConditionalSelect(isNaN, upper | quietBit, rounded);
            }
        }
        for (; i < source.Length; i++)
            destination[i] = SingleToBFloat16Bits(source[i]);
    }

    internal static void BFloat16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var bits = MemoryMarshal.Cast<float, uint>(destination);
            for (; i + 16 <= source.Length; i += 16)
            {
                var (low, high) = Vector256.Widen(Vector256.Create(source.Slice(i, 16)));
                Vector256.ShiftLeft(low, 16).CopyTo(bits.Slice(i, 8));
                Vector256.ShiftLeft(high, 16).CopyTo(bits.Slice(i + 8, 8));
            }
        }
        for (; i < source.Length; i++)
            destination[i] = BFloat16BitsToSingle(source[i]);
    }

    private static void CheckLengths(TensorDType dtype, int byteCount, int floatCount)
    {
        if (!dtype.IsFloatingPoint())
            throw NotFloatingPoint(dtype);
        if ((long)floatCount * dtype.Size() != byteCount)
            throw new ArgumentException($"{byteCount} bytes of {dtype.FileName()} do not hold {floatCount} values");
    }

    private static InvalidOperationException NotFloatingPoint(TensorDType dtype) =>
        new($"dtype {dtype.FileName()} does not convert to float32 (only F32, F16, BF16 and F64 do)");
}
