using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Terse.Neural.Numerics;

/// <summary>
/// Float32 storage whose first element sits on a 64-byte boundary (one cache line, one AVX-512
/// register) and never moves: the array lives on the pinned object heap, so kernels and native BLAS
/// take its address without pinning and a row never straddles cache lines needlessly.
/// </summary>
public sealed class FloatBuffer
{
    private const int AlignmentFloats = 16;

    private readonly float[] _array;
    private readonly int _offset;

    public unsafe FloatBuffer(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length > Array.MaxLength - AlignmentFloats)
            throw new ArgumentOutOfRangeException(nameof(length), length, "buffer too large");
        Length = length;
        // Zero-initialised: parameters, caches and gradients all start from a known state.
        _array = GC.AllocateArray<float>(length + AlignmentFloats, pinned: true);
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));
        _offset = (int)((64 - (address & 63)) & 63) / sizeof(float);
    }

    /// <summary>A buffer holding a copy of <paramref name="values"/>.</summary>
    public FloatBuffer(ReadOnlySpan<float> values) : this(values.Length) => values.CopyTo(Span);

    public int Length { get; }

    public Span<float> Span => _array.AsSpan(_offset, Length);

    public Memory<float> Memory => _array.AsMemory(_offset, Length);

    /// <summary>Address of the first element; valid for the buffer's lifetime because the array is pinned.</summary>
    internal unsafe float* Pointer => (float*)Unsafe.AsPointer(ref _array[_offset]);

    public void Clear() => Span.Clear();

    public FloatBuffer Clone() => new(Span);
}
