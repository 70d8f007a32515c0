namespace Terse.Neural.Checkpoints;

/// <summary>
/// Element types a safetensors file can declare. The order is the reference implementation's
/// alignment order: writers sort tensors by descending position in it, so that every tensor's data
/// starts at a multiple of its element size.
/// </summary>
public enum TensorDType
{
    Bool,
    U8,
    I8,
    F8E5M2,
    F8E4M3,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    F64,
    I64,
    U64,
}

internal static class TensorDTypes
{
    private static readonly string[] Names =
        ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"];

    public static int Size(this TensorDType dtype) => dtype switch
    {
        TensorDType.Bool or TensorDType.U8 or TensorDType.I8 or TensorDType.F8E5M2 or TensorDType.F8E4M3 => 1,
        TensorDType.I16 or TensorDType.U16 or TensorDType.F16 or TensorDType.BF16 => 2,
        TensorDType.I32 or TensorDType.U32 or TensorDType.F32 => 4,
        TensorDType.F64 or TensorDType.I64 or TensorDType.U64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown tensor dtype"),
    };

    /// <summary>The spelling used in safetensors headers, e.g. "BF16", "F8_E4M3".</summary>
    public static string FileName(this TensorDType dtype) =>
        (uint)dtype < (uint)Names.Length ? Names[(int)dtype] : throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown tensor dtype");

    public static bool TryParse(string name, out TensorDType dtype)
    {
        int index = Array.IndexOf(Names, name);
        dtype = (TensorDType)Math.Max(index, 0);
        return index >= 0;
    }

    /// <summary>Whether values of this dtype convert to and from float32 (the engine's only compute type).</summary>
    public static bool IsFloatingPoint(this TensorDType dtype) =>
        dtype is TensorDType.F32 or TensorDType.F16 or TensorDType.BF16 or TensorDType.F64;
}
