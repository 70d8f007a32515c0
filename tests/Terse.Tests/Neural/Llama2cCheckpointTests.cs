using System.Buffers.Binary;
using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Tests.Infrastructure;

namespace Terse.Tests.Neural;

public class Llama2cCheckpointTests
{
    private static byte[] Stories => TestData.ReadBytes("models/stories260K.bin");

    private static LlamaModel Load(byte[] data) => Llama2cCheckpoint.Load(new MemoryStream(data), "test.bin");

    private static byte[] Save(LlamaModel model)
    {
        var stream = new MemoryStream();
        Llama2cCheckpoint.Save(model, stream);
        return stream.ToArray();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SaveThenLoadIsExact(bool tied)
    {
        var model = LlamaModel.CreateRandom(new LlamaConfig(32, 80, 2, 4, 2, 50, 16, TiedEmbeddings: tied), seed: 3);
        var loaded = Load(Save(model));
        Assert.Equal(model.Config, loaded.Config);
        Assert.Equal(model.Parameters.Select(p => p.Name), loaded.Parameters.Select(p => p.Name));
        foreach (var parameter in model.Parameters)
            Assert.Equal(parameter.Value.Span.ToArray(), loaded.Parameters[parameter.Name].Value.Span.ToArray());
        Assert.Equal(model.ComputeIdentity(), loaded.ComputeIdentity());
    }

    [Fact]
    public void RealCheckpointRoundTripsByteForByteExceptTheRecomputedRopeTables()
    {
        var original = Stories;
        var saved = Save(Load(original));
        Assert.Equal(original.Length, saved.Length);
        var config = ModelFixtures.Stories260K.Config;
        long ropeStart = 28 + 4 * config.ParameterCount;
        Assert.True(original.AsSpan(0, (int)ropeStart).SequenceEqual(saved.AsSpan(0, (int)ropeStart)));
        // The tables are obsolete (run.c recomputes RoPE); ours come from double precision, so they agree to float rounding.
        for (long at = ropeStart; at < original.Length; at += 4)
            Assert.True(Math.Abs(BinaryPrimitives.ReadSingleLittleEndian(original.AsSpan((int)at)) - BinaryPrimitives.ReadSingleLittleEndian(saved.AsSpan((int)at))) < 1e-4f);
    }

    [Fact]
    public void IdentityDependsOnEveryWeight()
    {
        var data = Stories;
        var identity = Load(data).ComputeIdentity();
        Assert.Equal(identity, Load(data).ComputeIdentity());
        data[data.Length / 2] ^= 1;
        Assert.NotEqual(identity, Load(data).ComputeIdentity());
    }

    [Fact]
    public void TruncatedFilesAreRejectedWithTheSizeInTheMessage()
    {
        var data = Stories;
        foreach (int length in new[] { 0, 27, 28, 1000, data.Length - 1 })
        {
            var error = Assert.Throws<InvalidDataException>(() => Load(data[..length]));
            Assert.Contains("test.bin", error.Message);
        }
        var trailing = Assert.Throws<InvalidDataException>(() => Load([.. data, 0, 0, 0, 0]));
        Assert.Contains("trailing", trailing.Message);
    }

    [Fact]
    public void TheSharedClassifierSignConventionIsExplainedWhenViolated()
    {
        var data = Stories;
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(20), -512); // claims an unshared classifier the file lacks
        var error = Assert.Throws<InvalidDataException>(() => Load(data));
        Assert.Contains("positive vocab_size", error.Message);

        var untied = Save(LlamaModel.CreateRandom(new LlamaConfig(16, 40, 1, 2, 2, 20, 8, TiedEmbeddings: false), 1));
        BinaryPrimitives.WriteInt32LittleEndian(untied.AsSpan(20), 20);
        Assert.Contains("negative vocab_size", Assert.Throws<InvalidDataException>(() => Load(untied)).Message);
    }

    [Theory]
    [InlineData(0, 0)]            // dim 0
    [InlineData(0, 63)]           // dim not divisible by heads
    [InlineData(2, -1)]           // negative layers
    [InlineData(3, 7)]            // heads not dividing dim
    [InlineData(4, 3)]            // kv heads not dividing heads
    [InlineData(4, 16)]           // more kv heads than heads
    [InlineData(5, 0)]            // vocab 0
    [InlineData(6, 0)]            // seq_len 0
    [InlineData(2, int.MaxValue)] // absurd layer count
    [InlineData(5, int.MinValue)]
    public void InconsistentHeadersAreRejected(int field, int value)
    {
        var data = Stories;
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(4 * field), value);
        Assert.Throws<InvalidDataException>(() => Load(data));
    }

    [Fact]
    public void NonFiniteWeightsAreRejected()
    {
        var data = Stories;
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(28 + 4 * 1000), float.NaN);
        Assert.Contains("non-finite", Assert.Throws<InvalidDataException>(() => Load(data)).Message);
    }

    [Fact]
    public void ModelsLlama2cCannotExpressAreNotSaved()
    {
        var biased = LlamaModel.CreateRandom(new LlamaConfig(16, 40, 1, 2, 2, 20, 8, AttentionBias: true), 1);
        Assert.Throws<NotSupportedException>(() => Save(biased));
        var otherTheta = LlamaModel.CreateRandom(new LlamaConfig(16, 40, 1, 2, 2, 20, 8, RopeTheta: 500000), 1);
        Assert.Throws<NotSupportedException>(() => Save(otherTheta));
    }

    [Fact]
    public void FuzzedInputsLoadOrFailWithInvalidData()
    {
        var random = new Random(2024);
        var seed = Save(LlamaModel.CreateRandom(new LlamaConfig(16, 40, 2, 4, 2, 30, 8), 5));
        for (int round = 0; round < 400; round++)
        {
            byte[] data;
            switch (round % 4)
            {
                case 0: // random bytes of random length
                    data = new byte[random.Next(0, 200)];
                    random.NextBytes(data);
                    break;
                case 1: // mutated header, valid body size
                    data = (byte[])seed.Clone();
                    data[random.Next(28)] = (byte)random.Next(256);
                    break;
                case 2: // random truncation or extension
                    data = seed.AsSpan(0, random.Next(seed.Length + 1)).ToArray();
                    if (random.Next(2) == 0)
                        data = [.. data, .. new byte[random.Next(1, 64)]];
                    break;
                default: // random header ints around plausible values
                    data = (byte[])seed.Clone();
                    BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(4 * random.Next(7)), random.Next(-70, 70));
                    break;
            }
            try
            {
                var model = Load(data);
                Assert.Null(model.Config.Problem());
            }
            catch (InvalidDataException)
            {
            }
        }
    }
}
