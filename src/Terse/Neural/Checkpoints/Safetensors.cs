using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Terse.IO;

namespace Terse.Neural.Checkpoints;

/// <summary>
/// The safetensors format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON naming
/// each tensor's dtype, shape and byte range, then the tensor data.
/// </summary>
public static class Safetensors
{
    /// <summary>
    /// The metadata PyTorch writers put in model and adapter files. Hugging Face transformers checks
    /// it when loading (versions differ on a missing entry), so pass this when writing for it.
    /// </summary>
    public static IReadOnlyDictionary<string, string> PyTorchMetadata { get; } =
        new Dictionary<string, string> { ["format"] = "pt" }.AsReadOnly();

    /// <summary>Opens a file and validates its header; tensor data is read only when asked for.</summary>
    public static SafetensorsReader Open(string path)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            return new SafetensorsReader(new FileBytes(handle, path), path);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Reads every tensor of a file, in data order.</summary>
    public static IReadOnlyList<NamedTensor> ReadAll(string path)
    {
        using var reader = Open(path);
        return reader.Tensors.Select(t => reader.Read(t.Name)).ToArray();
    }

    /// <summary>
    /// Writes tensors atomically (temporary file, then rename). The layout is deterministic and the
    /// reference implementation's: tensors sorted by descending dtype alignment then by name, header
    /// padded to 8 bytes. <paramref name="metadata"/> becomes the <c>__metadata__</c> map.
    /// </summary>
    public static void Write(string path, IEnumerable<NamedTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var (header, ordered) = Prepare(tensors, metadata);
        AtomicFile.Write(path, stream => WriteTo(stream, header, ordered));
    }

    /// <summary>The whole file as bytes (for tests and in-memory use).</summary>
    internal static byte[] Serialize(IEnumerable<NamedTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var (header, ordered) = Prepare(tensors, metadata);
        using var stream = new MemoryStream();
        WriteTo(stream, header, ordered);
        return stream.ToArray();
    }

    /// <summary>Parses a whole file held in memory (the same validation as <see cref="Open"/>).</summary>
    internal static SafetensorsReader Open(ReadOnlyMemory<byte> file, string source = "safetensors data") =>
        new(new MemoryBytes(file), source);

    private static (byte[] Header, NamedTensor[] Ordered) Prepare(IEnumerable<NamedTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var ordered = tensors.OrderByDescending(t => t.DType).ThenBy(t => t.Name, Utf8Ordinal.Instance).ToArray();
        for (int i = 1; i < ordered.Length; i++)
        {
            if (ordered[i].Name == ordered[i - 1].Name)
                throw new ArgumentException($"two tensors are named '{ordered[i].Name}'", nameof(tensors));
        }
        if (ordered.Any(t => t.Name == SafetensorsHeader.MetadataKey))
            throw new ArgumentException($"'{SafetensorsHeader.MetadataKey}' is reserved and cannot name a tensor", nameof(tensors));
        return (SafetensorsHeader.Build(ordered, metadata), ordered);
    }

    private static void WriteTo(Stream stream, byte[] header, NamedTensor[] ordered)
    {
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var tensor in ordered)
            stream.Write(tensor.Bytes);
    }

    /// <summary>Positional reads from a file or a buffer.</summary>
    internal abstract class ByteSource : IDisposable
    {
        public abstract long Length { get; }

        /// <summary>Fills <paramref name="destination"/> from <paramref name="offset"/>; the range is known to be inside <see cref="Length"/>.</summary>
        public abstract void Read(long offset, Span<byte> destination);

        public virtual void Dispose()
        {
        }
    }

    private sealed class FileBytes(SafeFileHandle handle, string path) : ByteSource
    {
        public override long Length { get; } = RandomAccess.GetLength(handle);

        public override void Read(long offset, Span<byte> destination)
        {
            while (!destination.IsEmpty)
            {
                int read = RandomAccess.Read(handle, destination, offset);
                if (read == 0)
                    throw new InvalidDataException($"{path}: the file ended at byte {offset}, before the data its header declares (was it changed while being read?)");
                destination = destination[read..];
                offset += read;
            }
        }

        public override void Dispose() => handle.Dispose();
    }

    private sealed class MemoryBytes(ReadOnlyMemory<byte> data) : ByteSource
    {
        public override long Length => data.Length;

        public override void Read(long offset, Span<byte> destination) =>
            data.Span.Slice(checked((int)offset), destination.Length).CopyTo(destination);
    }
}

/// <summary>
/// An open safetensors file whose header has been validated: every tensor's byte range lies inside
/// the file, the ranges tile the data section exactly, and each matches its shape and dtype.
/// Tensor data is read on demand, so loading a few tensors of a large file reads only those.
/// </summary>
public sealed class SafetensorsReader : IDisposable
{
    /// <summary>Bytes converted per step when widening F16/BF16/F64 into float32.</summary>
    private const int ChunkBytes = 1 << 20;

    private readonly Safetensors.ByteSource source;
    private readonly string label;
    private readonly long dataStart;
    private readonly Dictionary<string, TensorInfo> byName;

    internal SafetensorsReader(Safetensors.ByteSource source, string label)
    {
        this.source = source;
        this.label = label;
        long length = source.Length;
        if (length < 8)
            throw SafetensorsHeader.Invalid(label, $"the file has {length} bytes, fewer than the 8-byte header length");
        Span<byte> prefix = stackalloc byte[8];
        source.Read(0, prefix);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > SafetensorsHeader.MaxHeaderLength)
            throw SafetensorsHeader.Invalid(label, $"the header length {headerLength} exceeds the limit of {SafetensorsHeader.MaxHeaderLength} bytes");
        if (headerLength > (ulong)(length - 8))
            throw SafetensorsHeader.Invalid(label, $"the header length {headerLength} exceeds the {length - 8} bytes after the length field (truncated file?)");
        var header = new byte[headerLength];
        source.Read(8, header);
        dataStart = 8 + (long)headerLength;
        var (tensors, metadata) = SafetensorsHeader.Parse(header, length - dataStart, label);
        Tensors = Array.AsReadOnly(tensors);
        Metadata = metadata.AsReadOnly();
        byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The tensors in data order.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public bool TryGetInfo(string name, out TensorInfo info) => byName.TryGetValue(name, out info!);

    /// <summary>The tensor's entry; a missing tensor is an <see cref="InvalidDataException"/> (the checkpoint lacks it).</summary>
    public TensorInfo GetInfo(string name) =>
        byName.TryGetValue(name, out var info) ? info : throw SafetensorsHeader.Invalid(label, $"there is no tensor named '{name}'");

    /// <summary>Reads one tensor's raw data.</summary>
    public NamedTensor Read(string name)
    {
        var info = GetInfo(name);
        if (info.ByteLength > Array.MaxLength)
            throw new NotSupportedException($"{label}: tensor '{name}' holds {info.ByteLength} bytes, more than one .NET array can");
        var data = new byte[info.ByteLength];
        source.Read(dataStart + info.ByteOffset, data);
        return NamedTensor.Wrap(info.Name, info.DType, (long[])info.ShapeArray.Clone(), data);
    }

    /// <summary>Reads a floating-point tensor (F32, F16, BF16 or F64) as float32.</summary>
    public float[] ReadFloat32(string name)
    {
        var info = GetInfo(name);
        if (info.ElementCount > Array.MaxLength)
            throw new NotSupportedException($"{label}: tensor '{name}' has {info.ElementCount} elements, more than one .NET array can");
        var values = new float[info.ElementCount];
        ReadFloat32(name, values);
        return values;
    }

    /// <summary>
    /// Reads a floating-point tensor as float32 straight into <paramref name="destination"/>, whose
    /// length must equal the element count; F16/BF16/F64 are widened in bounded chunks.
    /// </summary>
    public void ReadFloat32(string name, Span<float> destination)
    {
        var info = GetInfo(name);
        if (destination.Length != info.ElementCount)
            throw new ArgumentException($"{label}: tensor '{name}' {NamedTensor.FormatShape(info.ShapeArray)} has {info.ElementCount} elements, the destination {destination.Length}", nameof(destination));
        if (!info.DType.IsFloatingPoint())
            throw new InvalidDataException($"{label}: tensor '{name}' has dtype {info.DType.FileName()}, expected a floating-point dtype (F32, F16, BF16 or F64)");

        int size = info.DType.Size();
        int chunkElements = ChunkBytes / size;
        byte[]? buffer = info.DType == TensorDType.F32 ? null : ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            for (int done = 0; done < destination.Length;)
            {
                int count = Math.Min(chunkElements, destination.Length - done);
                var target = destination.Slice(done, count);
                long offset = dataStart + info.ByteOffset + (long)done * size;
                if (buffer is null)
                {
                    source.Read(offset, MemoryMarshal.AsBytes(target));
                }
                else
                {
                    var bytes = buffer.AsSpan(0, count * size);
                    source.Read(offset, bytes);
                    FloatConversion.Decode(info.DType, bytes, target);
                }
                done += count;
            }
        }
        finally
        {
            if (buffer is not null)
                ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose() => source.Dispose();
}
