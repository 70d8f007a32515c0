using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Terse.Neural.Checkpoints;

/// <summary>
/// llama2.c's <c>.bin</c> checkpoint (the legacy "version 0" export that <c>run.c</c> reads): seven
/// little-endian int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len), then
/// float32 tensors in run.c's order — token embedding, attention norms, wq, wk, wv, wo, ffn norms,
/// w1, w2, w3, final norm, two obsolete RoPE tables (seq_len × head_size/2 each), and the classifier
/// only when it is not shared. A negative vocab_size marks an unshared classifier. run.c hard-codes
/// rope θ = 10000 and ε = 1e-5 and has no biases, so only such models can be saved.
/// </summary>
public static class Llama2cCheckpoint
{
    private const int HeaderBytes = 7 * sizeof(int);

    public static LlamaModel Load(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Load(stream, Path.GetFileName(path));
    }

    /// <summary>Reads a whole checkpoint; malformed or inconsistent input throws <see cref="InvalidDataException"/>.</summary>
    public static LlamaModel Load(Stream stream, string name = "checkpoint")
    {
        if (!stream.CanSeek)
        {
            var copy = new MemoryStream();
            stream.CopyTo(copy);
            copy.Position = 0;
            stream = copy;
        }
        long length = stream.Length - stream.Position;
        if (length < HeaderBytes)
            throw new InvalidDataException($"{name}: {length} bytes is too short for the 28-byte llama2.c header");
        var header = new byte[HeaderBytes];
        stream.ReadExactly(header);
        int Field(int i) => BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(4 * i));
        int vocab = Field(5);
        if (vocab == 0 || vocab == int.MinValue)
            throw new InvalidDataException($"{name}: vocab_size {vocab} in the header is invalid");
        var config = new LlamaConfig(Field(0), Field(1), Field(2), Field(3), Field(4), Math.Abs(vocab), Field(6), TiedEmbeddings: vocab > 0);
        if (config.Problem() is { } problem)
            throw new InvalidDataException($"{name}: header describes no valid model: {problem}");

        long expected = HeaderBytes + 4 * FloatCount(config);
        if (length != expected)
        {
            var other = config with { TiedEmbeddings = !config.TiedEmbeddings };
            string hint = length == HeaderBytes + 4 * FloatCount(other)
                ? config.TiedEmbeddings
                    ? " (the size fits an unshared classifier, which llama2.c marks with a negative vocab_size)"
                    : " (the size fits a shared classifier, which llama2.c marks with a positive vocab_size)"
                : length < expected ? " (truncated)" : " (trailing data)";
            throw new InvalidDataException($"{name}: the header implies {expected} bytes but the file has {length}{hint}");
        }

        var model = new LlamaModel(config);
        var layers = model.Layers;
        ReadInto(stream, name, model.Embedding);
        foreach (var layer in layers) ReadInto(stream, name, layer.AttentionNorm);
        foreach (var layer in layers) ReadInto(stream, name, layer.Query);
        foreach (var layer in layers) ReadInto(stream, name, layer.Key);
        foreach (var layer in layers) ReadInto(stream, name, layer.Value);
        foreach (var layer in layers) ReadInto(stream, name, layer.Output);
        foreach (var layer in layers) ReadInto(stream, name, layer.FeedForwardNorm);
        foreach (var layer in layers) ReadInto(stream, name, layer.Gate);
        foreach (var layer in layers) ReadInto(stream, name, layer.Down);
        foreach (var layer in layers) ReadInto(stream, name, layer.Up);
        ReadInto(stream, name, model.FinalNorm);
        stream.Seek(2L * 4 * RopeTableFloats(config), SeekOrigin.Current);
        if (!config.TiedEmbeddings)
            ReadInto(stream, name, model.Classifier);
        return model;
    }

    public static void Save(LlamaModel model, string path) =>
        Terse.IO.AtomicFile.Write(path, stream => Save(model, stream));

    /// <summary>Writes <paramref name="model"/> so that <c>run.c</c> (and <see cref="Load(Stream, string)"/>) reads it back exactly.</summary>
    public static void Save(LlamaModel model, Stream stream)
    {
        var c = model.Config;
        if (c.AttentionBias || c.RopeTheta != 10000f || c.NormEpsilon != 1e-5f || c.RopeScaling is not null)
            throw new NotSupportedException("llama2.c checkpoints cannot express attention biases, rope theta ≠ 10000, rope scaling or norm epsilon ≠ 1e-5");
        Span<byte> header = stackalloc byte[HeaderBytes];
        int[] fields = [c.Dim, c.HiddenDim, c.Layers, c.Heads, c.KvHeads, c.TiedEmbeddings ? c.VocabSize : -c.VocabSize, c.MaxSequenceLength];
        for (int i = 0; i < fields.Length; i++)
            BinaryPrimitives.WriteInt32LittleEndian(header[(4 * i)..], fields[i]);
        stream.Write(header);
        var layers = model.Layers;
        Write(stream, model.Embedding.Value.Span);
        foreach (var layer in layers) Write(stream, layer.AttentionNorm.Value.Span);
        foreach (var layer in layers) Write(stream, layer.Query.Value.Span);
        foreach (var layer in layers) Write(stream, layer.Key.Value.Span);
        foreach (var layer in layers) Write(stream, layer.Value.Value.Span);
        foreach (var layer in layers) Write(stream, layer.Output.Value.Span);
        foreach (var layer in layers) Write(stream, layer.FeedForwardNorm.Value.Span);
        foreach (var layer in layers) Write(stream, layer.Gate.Value.Span);
        foreach (var layer in layers) Write(stream, layer.Down.Value.Span);
        foreach (var layer in layers) Write(stream, layer.Up.Value.Span);
        Write(stream, model.FinalNorm.Value.Span);
        // The obsolete cos/sin tables, as llama2.c's export computed them, for readers that still expect them.
        int half = c.HeadSize / 2;
        var cos = new float[RopeTableFloats(c)];
        var sin = new float[cos.Length];
        for (int pos = 0; pos < c.MaxSequenceLength; pos++)
            for (int i = 0; i < half; i++)
            {
                double angle = pos / Math.Pow(c.RopeTheta, 2.0 * i / c.HeadSize);
                cos[pos * half + i] = (float)Math.Cos(angle);
                sin[pos * half + i] = (float)Math.Sin(angle);
            }
        Write(stream, cos);
        Write(stream, sin);
        if (!c.TiedEmbeddings)
            Write(stream, model.Classifier.Value.Span);
    }

    private static long RopeTableFloats(LlamaConfig c) => (long)c.MaxSequenceLength * (c.HeadSize / 2);

    private static long FloatCount(LlamaConfig c) => c.ParameterCount + 2 * RopeTableFloats(c);

    private static void ReadInto(Stream stream, string name, Parameter parameter)
    {
        var values = parameter.Value.Span;
        stream.ReadExactly(MemoryMarshal.AsBytes(values));
        if (!BitConverter.IsLittleEndian)
            for (int i = 0; i < values.Length; i++)
                values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReverseEndianness(BitConverter.SingleToInt32Bits(values[i])));
        ModelFiles.RequireFinite(values, name, parameter.Name);
    }

    private static void Write(Stream stream, ReadOnlySpan<float> values)
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(values));
            return;
        }
        Span<byte> buffer = stackalloc byte[4];
        foreach (float value in values)
        {
            BinaryPrimitives.WriteSingleLittleEndian(buffer, value);
            stream.Write(buffer);
        }
    }
}
