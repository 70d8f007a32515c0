using System.Collections.ObjectModel;

namespace Terse.Neural.Checkpoints;

/// <summary>
/// A tensor as checkpoint files hold it, independent of any engine: a name, a row-major shape, an
/// element type and the raw little-endian element bytes. Floating-point tensors convert to and from
/// float32, the engine's compute type.
/// </summary>
public sealed class NamedTensor
{
    private readonly byte[] data;

    /// <summary>Wraps a copy of <paramref name="data"/>, which must hold exactly the elements the shape calls for.</summary>
    public NamedTensor(string name, TensorDType dtype, ReadOnlySpan<long> shape, ReadOnlySpan<byte> data)
        : this(name, dtype, shape.ToArray(), data.ToArray())
    {
    }

    private NamedTensor(string name, TensorDType dtype, long[] shape, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(name);
        long elements = ElementCountOf(shape) ?? throw new ArgumentException($"tensor '{name}': shape {FormatShape(shape)} is invalid (a negative dimension or an element count that overflows)");
        if (data.Length % dtype.Size() != 0 || elements != data.Length / dtype.Size())
            throw new ArgumentException($"tensor '{name}': shape {FormatShape(shape)} of {dtype.FileName()} has {elements} elements, but {data.Length} bytes hold {data.Length / (double)dtype.Size()}");
        Name = name;
        DType = dtype;
        Shape = Array.AsReadOnly(shape);
        ElementCount = elements;
        this.data = data;
    }

    public string Name { get; }

    public TensorDType DType { get; }

    /// <summary>Dimensions, outermost first (row-major); empty for a scalar.</summary>
    public ReadOnlyCollection<long> Shape { get; }

    public long ElementCount { get; }

    /// <summary>The raw little-endian element bytes, row-major.</summary>
    public ReadOnlySpan<byte> Bytes => data;

    /// <summary>Builds a tensor from float32 values, stored as <paramref name="dtype"/> (F32, F16, BF16 or F64; narrowing rounds to nearest even).</summary>
    public static NamedTensor FromFloat32(string name, ReadOnlySpan<long> shape, ReadOnlySpan<float> values, TensorDType dtype = TensorDType.F32)
    {
        if (!dtype.IsFloatingPoint())
            throw new ArgumentException($"tensor '{name}': float32 values cannot be stored as {dtype.FileName()}", nameof(dtype));
        long? elements = ElementCountOf(shape);
        if (elements != values.Length)
            throw new ArgumentException($"tensor '{name}': shape {FormatShape(shape)} does not hold {values.Length} values");
        var bytes = new byte[checked(values.Length * dtype.Size())];
        FloatConversion.Encode(dtype, values, bytes);
        return new NamedTensor(name, dtype, shape.ToArray(), bytes);
    }

    /// <summary>Takes ownership of <paramref name="data"/> without copying (readers hand over freshly read buffers).</summary>
    internal static NamedTensor Wrap(string name, TensorDType dtype, long[] shape, byte[] data) => new(name, dtype, shape, data);

    /// <summary>The values as float32 (widening is exact; F64 rounds to nearest).</summary>
    public float[] ToFloat32()
    {
        var values = new float[ElementCount];
        CopyToFloat32(values);
        return values;
    }

    /// <summary>Writes the values as float32 into <paramref name="destination"/>, whose length must equal <see cref="ElementCount"/>.</summary>
    public void CopyToFloat32(Span<float> destination)
    {
        if (destination.Length != ElementCount)
            throw new ArgumentException($"tensor '{Name}' has {ElementCount} elements, the destination {destination.Length}", nameof(destination));
        if (!DType.IsFloatingPoint())
            throw new InvalidOperationException($"tensor '{Name}' has dtype {DType.FileName()}, which does not convert to float32 (only F32, F16, BF16 and F64 do)");
        FloatConversion.Decode(DType, data, destination);
    }

    public override string ToString() => $"{Name} {DType.FileName()} {FormatShape(Shape.ToArray())}";

    /// <summary>The product of the dimensions, or null when a dimension is negative or the product overflows.</summary>
    internal static long? ElementCountOf(ReadOnlySpan<long> shape)
    {
        long product = 1;
        foreach (long dimension in shape)
        {
            if (dimension < 0)
                return null;
            try { product = checked(product * dimension); }
            catch (OverflowException) { return null; }
        }
        return product;
    }

    internal static string FormatShape(ReadOnlySpan<long> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";
}
