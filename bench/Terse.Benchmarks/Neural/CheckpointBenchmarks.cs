using BenchmarkDotNet.Attributes;
using Terse.Neural.Checkpoints;

namespace Terse.Benchmarks.Neural;

/// <summary>
/// Checkpoint I/O: float32 ⇄ bfloat16/float16 conversion of 4M values (bulk paths against a
/// per-element scalar loop), and loading a 64 MiB safetensors tensor as float32 (against reading
/// the same bytes raw, the I/O ceiling). Files are in the page cache, so this measures CPU cost.
/// </summary>
[MemoryDiagnoser]
public class CheckpointBenchmarks
{
    private const int Count = 1 << 24; // 16M floats = 64 MiB as F32, 32 MiB as BF16

    private float[] values = [];
    private byte[] halfBytes = [];
    private ushort[] halfBits = [];
    private float[] destination = [];
    private string folder = "";
    private string f32Path = "";
    private string bf16Path = "";

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        values = Enumerable.Range(0, Count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        halfBytes = new byte[Count * 2];
        halfBits = new ushort[Count];
        destination = new float[Count];
        folder = Directory.CreateTempSubdirectory("terse-bench-").FullName;
        f32Path = Path.Combine(folder, "f32.safetensors");
        bf16Path = Path.Combine(folder, "bf16.safetensors");
        Safetensors.Write(f32Path, [NamedTensor.FromFloat32("w", [Count], values)]);
        Safetensors.Write(bf16Path, [NamedTensor.FromFloat32("w", [Count], values, TensorDType.BF16)]);
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(folder, recursive: true);

    [Benchmark(Baseline = true)]
    public void EncodeBFloat16Scalar()
    {
        for (int i = 0; i < values.Length; i++)
            halfBits[i] = FloatConversion.SingleToBFloat16Bits(values[i]);
    }

    [Benchmark]
    public void EncodeBFloat16Bulk() => FloatConversion.Encode(TensorDType.BF16, values, halfBytes);

    [Benchmark]
    public void DecodeBFloat16Scalar()
    {
        for (int i = 0; i < halfBits.Length; i++)
            destination[i] = FloatConversion.BFloat16BitsToSingle(halfBits[i]);
    }

    [Benchmark]
    public void DecodeBFloat16Bulk() => FloatConversion.Decode(TensorDType.BF16, halfBytes, destination);

    [Benchmark]
    public void EncodeHalfScalar()
    {
        for (int i = 0; i < values.Length; i++)
            halfBits[i] = FloatConversion.SingleToHalfBits(values[i]);
    }

    [Benchmark]
    public void EncodeHalfBulk() => FloatConversion.Encode(TensorDType.F16, values, halfBytes);

    [Benchmark]
    public void DecodeHalfBulk() => FloatConversion.Decode(TensorDType.F16, halfBytes, destination);

    [Benchmark]
    public int ReadRawBytesF32File() => File.ReadAllBytes(f32Path).Length;

    [Benchmark]
    public void LoadF32Tensor()
    {
        using var reader = Safetensors.Open(f32Path);
        reader.ReadFloat32("w", destination);
    }

    [Benchmark]
    public void LoadBFloat16TensorAsFloat32()
    {
        using var reader = Safetensors.Open(bf16Path);
        reader.ReadFloat32("w", destination);
    }
}
