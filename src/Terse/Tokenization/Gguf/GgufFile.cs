using System.Buffers.Binary;
using System.Text;

namespace Terse.Tokenization.Gguf;

/// <summary>GGUF metadata value types (gguf_type).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>An array value: its element type and the elements (a typed array, <c>string[]</c>, or <c>GgufArray[]</c> for nested arrays).</summary>
public sealed record GgufArray(GgufValueType ElementType, Array Items)
{
    public int Count => Items.Length;
}

/// <summary>One tensor's description; a vocabulary-only file has none.</summary>
public sealed record GgufTensorInfo(string Name, ulong[] Dimensions, uint Type, ulong Offset);

/// <summary>
/// A GGUF (version 2 or 3) file's header, metadata and tensor infos, read from bytes with every
/// count and length checked against what remains before anything is allocated. Metadata values are
/// byte, sbyte, ushort, short, uint, int, float, bool, string, ulong, long, double or <see cref="GgufArray"/>.
/// </summary>
public sealed class GgufFile
{
    private const uint Magic = 0x46554747; // "GGUF" little-endian
    private const int MaxArrayNesting = 8;
    private const int MaxDimensions = 8;

    private GgufFile(uint version, Dictionary<string, object> metadata, GgufTensorInfo[] tensors, int alignment, long dataOffset)
    {
        Version = version;
        Metadata = metadata;
        Tensors = tensors;
        Alignment = alignment;
        DataOffset = dataOffset;
    }

    public uint Version { get; }
    public IReadOnlyDictionary<string, object> Metadata { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }
    public int Alignment { get; }
    /// <summary>Offset of the (aligned) tensor data section.</summary>
    public long DataOffset { get; }

    public static GgufFile Load(string path) => Parse(File.ReadAllBytes(path), Path.GetFileName(path));

    public static GgufFile Parse(ReadOnlySpan<byte> data, string source)
    {
        var reader = new Reader(data, source);
        uint magic = reader.UInt32("magic");
        if (magic != Magic)
            throw new InvalidDataException($"{source}: not a GGUF file (magic 0x{magic:X8} at offset 0, expected \"GGUF\")");
        uint version = reader.UInt32("version");
        if (version == 1)
            throw new NotSupportedException($"{source}: GGUF version 1 is not supported (only versions 2 and 3)");
        if (version is 0 or > 3)
            throw new InvalidDataException($"{source}: unknown GGUF version {version}" + (BinaryPrimitives.ReverseEndianness(version) is 2 or 3 ? " (a big-endian file?)" : ""));

        ulong tensorCount = reader.UInt64("tensor count");
        ulong metadataCount = reader.UInt64("metadata count");
        // Each key/value needs at least a key length and a type; each tensor info at least 24 bytes.
        reader.CheckCount(metadataCount, 12, "metadata key/value pairs", offset: 16);
        reader.CheckCount(tensorCount, 24, "tensor infos", offset: 8);

        var metadata = new Dictionary<string, object>(StringComparer.Ordinal);
        for (ulong i = 0; i < metadataCount; i++)
        {
            int keyOffset = reader.Position;
            string key = reader.String("metadata key");
            var type = reader.Type($"type of '{key}'");
            object value = reader.Value(type, key, depth: 0);
            if (!metadata.TryAdd(key, value))
                throw new InvalidDataException($"{source}: metadata key '{key}' at offset {keyOffset} appears twice");
        }

        int alignment = 32;
        if (metadata.TryGetValue("general.alignment", out var alignmentValue))
        {
            if (alignmentValue is not uint a || a == 0 || (a & (a - 1)) != 0 || a > 1 << 20)
                throw new InvalidDataException($"{source}: general.alignment must be a power-of-two uint32, got {alignmentValue}");
            alignment = (int)a;
        }

        var tensors = new GgufTensorInfo[(int)tensorCount];
        for (int i = 0; i < tensors.Length; i++)
        {
            string name = reader.String($"name of tensor {i}");
            uint dimensionCount = reader.UInt32($"dimension count of '{name}'");
            if (dimensionCount > MaxDimensions)
                throw new InvalidDataException($"{source}: tensor '{name}' has {dimensionCount} dimensions (at most {MaxDimensions})");
            var dimensions = new ulong[dimensionCount];
            for (int d = 0; d < dimensions.Length; d++)
                dimensions[d] = reader.UInt64($"dimension {d} of '{name}'");
            uint type = reader.UInt32($"type of '{name}'");
            ulong offset = reader.UInt64($"offset of '{name}'");
            if (offset % (ulong)alignment != 0)
                throw new InvalidDataException($"{source}: tensor '{name}' offset {offset} is not a multiple of the alignment {alignment}");
            tensors[i] = new GgufTensorInfo(name, dimensions, type, offset);
        }

        long dataOffset = (reader.Position + alignment - 1) / alignment * alignment;
        long dataLength = Math.Max(0, data.Length - dataOffset);
        foreach (var tensor in tensors)
        {
            if (tensor.Offset > (ulong)dataLength)
                throw new InvalidDataException($"{source}: tensor '{tensor.Name}' starts at data offset {tensor.Offset}, beyond the {dataLength} bytes of tensor data");
        }
        return new GgufFile(version, metadata, tensors, alignment, dataOffset);
    }

    private ref struct Reader(ReadOnlySpan<byte> data, string source)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        public int Position;

        public int Remaining => _data.Length - Position;

        /// <param name="offset">Where the count was read, for the message.</param>
        public void CheckCount(ulong count, int minimumBytesEach, string what, int offset)
        {
            if (count > (ulong)(Remaining / minimumBytesEach))
                throw new InvalidDataException($"{source}: {count} {what} (count at offset {offset}) cannot fit in the {Remaining} bytes that remain");
        }

        public GgufValueType Type(string what)
        {
            int at = Position;
            uint type = UInt32(what);
            if (type > (uint)GgufValueType.Float64)
                throw new InvalidDataException($"{source}: {what} at offset {at} is {type}, not a GGUF value type (0..12)");
            return (GgufValueType)type;
        }

        public object Value(GgufValueType type, string key, int depth) => type switch
        {
            GgufValueType.UInt8 => Take(1, key)[0],
            GgufValueType.Int8 => (sbyte)Take(1, key)[0],
            GgufValueType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, key)),
            GgufValueType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(Take(2, key)),
            GgufValueType.UInt32 => UInt32(key),
            GgufValueType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(Take(4, key)),
            GgufValueType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(Take(4, key)),
            GgufValueType.Bool => Bool(key),
            GgufValueType.String => String(key),
            GgufValueType.Array => Array(key, depth),
            GgufValueType.UInt64 => UInt64(key),
            GgufValueType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(Take(8, key)),
            GgufValueType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, key)),
            _ => throw new InvalidDataException($"{source}: '{key}' has unknown type {type}"),
        };

        private GgufArray Array(string key, int depth)
        {
            if (depth >= MaxArrayNesting)
                throw new InvalidDataException($"{source}: '{key}' nests arrays more than {MaxArrayNesting} deep (offset {Position})");
            var elementType = Type($"element type of '{key}'");
            int countOffset = Position;
            ulong count = UInt64($"length of '{key}'");
            int elementSize = elementType switch
            {
                GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
                GgufValueType.UInt16 or GgufValueType.Int16 => 2,
                GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
                GgufValueType.String => 8,   // at least the length
                GgufValueType.Array => 12,   // at least type + length
                _ => 8,
            };
            CheckCount(count, elementSize, $"elements of '{key}'", countOffset);
            int n = (int)count;
            switch (elementType)
            {
                case GgufValueType.String:
                {
                    var items = new string[n];
                    for (int i = 0; i < n; i++)
                        items[i] = String(key);
                    return new GgufArray(elementType, items);
                }
                case GgufValueType.Array:
                {
                    var items = new GgufArray[n];
                    for (int i = 0; i < n; i++)
                        items[i] = Array(key, depth + 1);
                    return new GgufArray(elementType, items);
                }
                case GgufValueType.Float32:
                {
                    var items = new float[n];
                    var bytes = Take(4 * n, key);
                    for (int i = 0; i < n; i++)
                        items[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]);
                    return new GgufArray(elementType, items);
                }
                case GgufValueType.Int32:
                {
                    var items = new int[n];
                    var bytes = Take(4 * n, key);
                    for (int i = 0; i < n; i++)
                        items[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes[(4 * i)..]);
                    return new GgufArray(elementType, items);
                }
                default:
                {
                    var items = new object[n];
                    for (int i = 0; i < n; i++)
                        items[i] = Value(elementType, key, depth + 1);
                    return new GgufArray(elementType, items);
                }
            }
        }

        public uint UInt32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));

        public ulong UInt64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

        private bool Bool(string what)
        {
            int at = Position;
            byte value = Take(1, what)[0];
            return value switch
            {
                0 => false,
                1 => true,
                _ => throw new InvalidDataException($"{source}: bool '{what}' at offset {at} is {value}, not 0 or 1"),
            };
        }

        public string String(string what)
        {
            int at = Position;
            ulong length = UInt64($"length of {what}");
            if (length > (ulong)Remaining)
                throw new InvalidDataException($"{source}: string ({what}) at offset {at} claims {length} bytes but only {Remaining} remain");
            var bytes = Take((int)length, what);
            try
            {
                return StrictUtf8.GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                throw new InvalidDataException($"{source}: string ({what}) at offset {at} is not valid UTF-8");
            }
        }

        private ReadOnlySpan<byte> Take(int count, string what)
        {
            if (count > Remaining)
                throw new InvalidDataException($"{source}: file truncated reading {what} at offset {Position} ({count} bytes needed, {Remaining} remain)");
            var slice = _data.Slice(Position, count);
            Position += count;
            return slice;
        }
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}
