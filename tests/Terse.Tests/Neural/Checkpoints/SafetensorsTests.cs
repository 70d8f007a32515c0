using System.Buffers.Binary;
using System.Text;
using Terse.Neural.Checkpoints;

namespace Terse.Tests.Neural.Checkpoints;

public class SafetensorsTests
{
    /// <summary>A file made of a header written by hand and <paramref name="dataLength"/> data bytes.</summary>
    internal static byte[] FileWith(string header, int dataLength, ulong? declaredHeaderLength = null)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + json.Length + dataLength];
        BinaryPrimitives.WriteUInt64LittleEndian(file, declaredHeaderLength ?? (ulong)json.Length);
        json.CopyTo(file, 8);
        for (int i = 0; i < dataLength; i++)
            file[8 + json.Length + i] = (byte)(i * 7 + 1);
        return file;
    }

    private static byte[] Expected(string header, params float[] data)
    {
        var bytes = new List<byte>();
        bytes.AddRange(BitConverter.GetBytes((ulong)header.Length));
        bytes.AddRange(Encoding.ASCII.GetBytes(header));
        foreach (float value in data)
            bytes.AddRange(BitConverter.GetBytes(value));
        return bytes.ToArray();
    }

    // The expected bytes are those the reference implementation's own serialization tests assert.
    [Fact]
    public void WritesTheReferenceLayoutByteForByte()
    {
        float[] values = [0, 1, 2, 3, 4, 5];
        Assert.Equal(
            Expected("{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}", values),
            Safetensors.Serialize([NamedTensor.FromFloat32("attn.0", [1, 2, 3], values)]));
        Assert.Equal(
            Expected("{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ", values),
            Safetensors.Serialize([NamedTensor.FromFloat32("attn0", [1, 1, 2, 3], values)]));
        Assert.Equal(Expected("{}      "), Safetensors.Serialize([]));
        Assert.Equal(
            Expected("{\"__metadata__\":{\"framework\":\"pt\"}}     "),
            Safetensors.Serialize([], new Dictionary<string, string> { ["framework"] = "pt" }));
    }

    [Fact]
    public void OrdersTensorsByDescendingAlignmentThenNameWhateverTheInputOrder()
    {
        NamedTensor[] tensors =
        [
            NamedTensor.FromFloat32("b", [2], [1, 2], TensorDType.F16),
            NamedTensor.FromFloat32("a", [1], [3], TensorDType.F32),
            new NamedTensor("z", TensorDType.U8, [3], [1, 2, 3]),
            NamedTensor.FromFloat32("c", [1], [4], TensorDType.F64),
            NamedTensor.FromFloat32("a2", [3], [5, 6, 7], TensorDType.BF16),
        ];
        var bytes = Safetensors.Serialize(tensors, new Dictionary<string, string> { ["b"] = "2", ["a"] = "1" });
        Assert.Equal(bytes, Safetensors.Serialize(tensors.Reverse(), new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" }));
        using var reader = Safetensors.Open(bytes);
        Assert.Equal(["c", "a", "a2", "b", "z"], reader.Tensors.Select(t => t.Name));
        long dataStart = 8 + BinaryPrimitives.ReadInt64LittleEndian(bytes);
        Assert.Equal(0, dataStart % 8);
        foreach (var info in reader.Tensors)
            Assert.Equal(0, (dataStart + info.ByteOffset) % info.DType switch { TensorDType.F64 => 8, TensorDType.F32 => 4, TensorDType.F16 or TensorDType.BF16 => 2, _ => 1 });
        Assert.StartsWith("{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\"},\"c\":", Encoding.UTF8.GetString(bytes, 8, 40));
    }

    [Fact]
    public void RoundTripsRandomTensorsOfEveryDTypeWithMetadata()
    {
        var random = new Random(11);
        var dtypes = Enum.GetValues<TensorDType>();
        for (int trial = 0; trial < 200; trial++)
        {
            var tensors = new List<NamedTensor>();
            int count = random.Next(0, 8);
            for (int i = 0; i < count; i++)
            {
                var dtype = dtypes[random.Next(dtypes.Length)];
                long[] shape = Enumerable.Range(0, random.Next(0, 4)).Select(_ => (long)random.Next(0, 5)).ToArray();
                var data = new byte[shape.Aggregate(1L, (a, b) => a * b) * DTypeSize(dtype)];
                random.NextBytes(data);
                tensors.Add(new NamedTensor($"t{i}.\"q\\é\n{random.Next(100)}", dtype, shape, data));
            }
            var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note ✓"] = "line\u0001\"two\"" };
            var bytes = Safetensors.Serialize(tensors, trial % 2 == 0 ? metadata : null);
            Assert.Equal(0, BinaryPrimitives.ReadInt64LittleEndian(bytes) % 8);

            using var reader = Safetensors.Open(bytes);
            Assert.Equal(trial % 2 == 0 ? metadata : new Dictionary<string, string>(), reader.Metadata);
            Assert.Equal(tensors.Count, reader.Tensors.Count);
            foreach (var original in tensors)
            {
                var read = reader.Read(original.Name);
                Assert.Equal(original.DType, read.DType);
                Assert.Equal(original.Shape, read.Shape);
                Assert.Equal(original.Bytes.ToArray(), read.Bytes.ToArray());
            }
        }
    }

    private static int DTypeSize(TensorDType dtype) => dtype switch
    {
        TensorDType.Bool or TensorDType.U8 or TensorDType.I8 or TensorDType.F8E5M2 or TensorDType.F8E4M3 => 1,
        TensorDType.I16 or TensorDType.U16 or TensorDType.F16 or TensorDType.BF16 => 2,
        TensorDType.I32 or TensorDType.U32 or TensorDType.F32 => 4,
        _ => 8,
    };

    [Fact]
    public void WritesAtomicallyAndReadsOnlyTheRequestedTensorsAsFloat32()
    {
        var folder = Directory.CreateTempSubdirectory("terse-safetensors-");
        try
        {
            var path = Path.Combine(folder.FullName, "model.safetensors");
            var random = new Random(3);
            // Over 1 MiB of BF16, so the chunked widening takes several steps.
            var big = Enumerable.Range(0, 700_001).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
            var small = new[] { 1.5f, -0.1f, 65504f, 1e-8f };
            Safetensors.Write(path,
            [
                NamedTensor.FromFloat32("big", [700_001], big, TensorDType.BF16),
                NamedTensor.FromFloat32("small", [2, 2], small, TensorDType.F16),
                NamedTensor.FromFloat32("exact", [2, 2], small),
                NamedTensor.FromFloat32("double", [4], small, TensorDType.F64),
            ], new Dictionary<string, string> { ["format"] = "pt" });
            Assert.Single(Directory.GetFiles(folder.FullName));

            using var reader = Safetensors.Open(path);
            Assert.Equal("pt", reader.Metadata["format"]);
            Assert.Equal(small, reader.ReadFloat32("exact"));
            Assert.Equal(small, reader.ReadFloat32("double"));
            Assert.Equal(small.Select(v => (float)(Half)v), reader.ReadFloat32("small"));
            var bigRead = new float[700_001];
            reader.ReadFloat32("big", bigRead);
            for (int i = 0; i < big.Length; i++)
                Assert.Equal(FloatConversion.BFloat16BitsToSingle(FloatConversion.SingleToBFloat16Bits(big[i])), bigRead[i]);
            Assert.Equal([2L, 2], reader.GetInfo("small").Shape);

            Assert.Throws<ArgumentException>(() => reader.ReadFloat32("small", new float[3]));
            var missing = Assert.Throws<InvalidDataException>(() => reader.Read("absent"));
            Assert.Contains("absent", missing.Message);
            Assert.Contains(path, missing.Message);
            Assert.Equal(4, Safetensors.ReadAll(path).Count);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void ReadsEdgeCasesTheReferenceAccepts()
    {
        using (var scalar = Safetensors.Open(FileWith("{\"test\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4)))
        {
            Assert.Empty(scalar.GetInfo("test").Shape);
            Assert.Equal(1, scalar.GetInfo("test").ElementCount);
        }
        using (var empty = Safetensors.Open(FileWith("{\"test\":{\"dtype\":\"I32\",\"shape\":[2,0],\"data_offsets\":[0, 0]}}", 0)))
            Assert.Equal(0, empty.Read("test").ElementCount);
        using (var padded = Safetensors.Open(FileWith("{}\r \t\n", 0)))
            Assert.Empty(padded.Tensors);
        using var unordered = Safetensors.Open(FileWith(
            "{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]},\"a\":{\"data_offsets\":[0,1],\"shape\":[1],\"dtype\":\"BOOL\"}}", 3));
        Assert.Equal(["a", "b"], unordered.Tensors.Select(t => t.Name));
        Assert.Equal(new byte[] { 8, 15 }, unordered.Read("b").Bytes.ToArray());
    }

    public static TheoryData<string, int, string> MalformedFiles => new()
    {
        { "{\"t\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", 4, "needs 16 bytes" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":[2,18446744073709551614],\"data_offsets\":[0,16]}}", 16, "overflows" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":[2,9223372036854775807],\"data_offsets\":[0,16]}}", 16, "too large" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 50, "trailing bytes" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 14, "truncated" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}", 24, "gap of 8 bytes" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},\"u\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlaps" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},\"u\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "overlaps" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "end before they start" },
        { "{\"t\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unsupported dtype 'Q4'" },
        { "{\"t\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype must be a string" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[0] must be a non-negative integer" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "shape[0] must be a non-negative integer" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8, "shape must be an array" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8, "found 3 values" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":[2]}}", 8, "lacks data_offsets" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", 8, "unknown field 'extra'" },
        { "{\"t\":{\"dtype\":\"I32\",\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "field 'dtype' twice" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},\"t\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "names 't' twice" },
        { "{\"t\":[1,2]}", 0, "must be an object with dtype" },
        { "{\"__metadata__\":{\"a\":1}}", 0, "entry 'a' must be a string" },
        { "{\"__metadata__\":[\"a\"]}", 0, "must be an object of strings" },
        { "[]", 0, "must be a JSON object" },
        { "{", 0, "not valid JSON" },
        { "{\"t\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}\0\0", 8, "not valid JSON" },
        { "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", 0, "not valid JSON" },
        { "", 0, "not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void RejectsMalformedHeadersWithAClearMessage(string header, int dataLength, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => Safetensors.Open(FileWith(header, dataLength)));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void RejectsBadHeaderLengthsBeforeAllocating()
    {
        Assert.Contains("fewer than the 8-byte", Assert.Throws<InvalidDataException>(() => Safetensors.Open(new byte[5])).Message);
        var valid = FileWith("{}      ", 0);
        foreach (ulong declared in new[] { ulong.MaxValue, 100_000_001UL, (ulong)long.MaxValue + 1, 9UL })
        {
            BinaryPrimitives.WriteUInt64LittleEndian(valid, declared);
            long before = GC.GetAllocatedBytesForCurrentThread();
            var error = Assert.Throws<InvalidDataException>(() => Safetensors.Open(valid));
            Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "a bad header length must fail before allocating it");
            Assert.Contains("header length", error.Message);
        }
        var invalidUtf8 = new byte[] { 1, 0, 0, 0, 0, 0, 0, 0, 0xFF };
        Assert.Contains("not valid UTF-8", Assert.Throws<InvalidDataException>(() => Safetensors.Open(invalidUtf8)).Message);
    }

    [Fact]
    public void RejectsAFileThatIsNotThereOrIsTruncatedOnDisk()
    {
        var folder = Directory.CreateTempSubdirectory("terse-safetensors-");
        try
        {
            var path = Path.Combine(folder.FullName, "cut.safetensors");
            var bytes = Safetensors.Serialize([NamedTensor.FromFloat32("w", [4], [1, 2, 3, 4])]);
            File.WriteAllBytes(path, bytes[..^3]);
            var error = Assert.Throws<InvalidDataException>(() => Safetensors.Open(path));
            Assert.Contains("truncated", error.Message);
            Assert.Contains(path, error.Message);
            Assert.Throws<FileNotFoundException>(() => Safetensors.Open(Path.Combine(folder.FullName, "none.safetensors")));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void NonFloatTensorsAreReadRawButNotAsFloat32()
    {
        var bytes = Safetensors.Serialize([new NamedTensor("ids", TensorDType.I64, [2], new byte[16])]);
        using var reader = Safetensors.Open(bytes);
        Assert.Equal(16, reader.Read("ids").Bytes.Length);
        Assert.Contains("expected a floating-point dtype", Assert.Throws<InvalidDataException>(() => reader.ReadFloat32("ids")).Message);
        Assert.Throws<InvalidOperationException>(() => reader.Read("ids").ToFloat32());
    }

    [Fact]
    public void WriterAndTensorRejectInconsistentInput()
    {
        var tensor = NamedTensor.FromFloat32("w", [2], [1, 2]);
        Assert.Throws<ArgumentException>(() => Safetensors.Serialize([tensor, NamedTensor.FromFloat32("w", [1], [3])]));
        Assert.Throws<ArgumentException>(() => Safetensors.Serialize([NamedTensor.FromFloat32("__metadata__", [1], [3])]));
        Assert.Throws<ArgumentException>(() => Safetensors.Serialize([NamedTensor.FromFloat32("bad\uD800", [1], [3])]));
        Assert.Throws<ArgumentException>(() => NamedTensor.FromFloat32("w", [3], [1, 2]));
        Assert.Throws<ArgumentException>(() => NamedTensor.FromFloat32("w", [2], [1, 2], TensorDType.I32));
        Assert.Throws<ArgumentException>(() => new NamedTensor("w", TensorDType.F32, [2], new byte[7]));
        Assert.Throws<ArgumentException>(() => new NamedTensor("w", TensorDType.U8, [-1], []));
        Assert.Throws<ArgumentException>(() => new NamedTensor("w", TensorDType.U8, [long.MaxValue, 4], []));
        Assert.Equal([1f, 2f], tensor.ToFloat32());
    }
}
