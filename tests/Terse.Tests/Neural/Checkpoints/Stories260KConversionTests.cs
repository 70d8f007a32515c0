using System.Runtime.InteropServices;
using Terse.Neural.Checkpoints;

namespace Terse.Tests.Neural.Checkpoints;

/// <summary>
/// The formats together on a real model: stories260K's llama2.c weights written as a Hugging Face
/// checkpoint (config.json + model.safetensors, q/k rows permuted), checked against the config,
/// and read back to the original llama2.c arrays bit for bit.
/// </summary>
public class Stories260KConversionTests
{
    [Fact]
    public void ConvertsToTheHuggingFaceLayoutAndBackExactly()
    {
        var bytes = Infrastructure.TestData.ReadBytes("models/stories260K.bin");
        int[] header = MemoryMarshal.Cast<byte, int>(bytes.AsSpan(0, 28)).ToArray();
        int dim = header[0], hidden = header[1], layers = header[2], heads = header[3], kvHeads = header[4], vocab = Math.Abs(header[5]), seqLen = header[6];
        int headDim = dim / heads, kvDim = kvHeads * headDim;
        var floats = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(28)).ToArray();

        // llama2.c's run.c order; each matrix is [out, in] row-major, as in PyTorch.
        int offset = 0;
        float[] Take(int count) { var part = floats.AsSpan(offset, count).ToArray(); offset += count; return part; }
        float[] embedding = Take(vocab * dim), attentionNorm = Take(layers * dim);
        float[] wq = Take(layers * dim * dim), wk = Take(layers * kvDim * dim), wv = Take(layers * kvDim * dim), wo = Take(layers * dim * dim);
        float[] ffnNorm = Take(layers * dim), w1 = Take(layers * hidden * dim), w2 = Take(layers * dim * hidden), w3 = Take(layers * hidden * dim);
        float[] finalNorm = Take(dim);
        offset += seqLen * headDim; // the unused freq_cis_real and freq_cis_imag tables
        Assert.Equal(floats.Length, offset); // shared classifier: nothing after them

        var config = new HuggingFaceLlamaConfig
        {
            HiddenSize = dim, IntermediateSize = hidden, NumHiddenLayers = layers, NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads, VocabSize = vocab, MaxPositionEmbeddings = seqLen, RmsNormEps = 1e-5,
            TieWordEmbeddings = true, TorchDtype = "float32", BosTokenId = 1, EosTokenIds = [2],
        };
        static float[] Layer(float[] all, int layer, int size) => all.AsSpan(layer * size, size).ToArray();
        var tensors = new List<NamedTensor>
        {
            NamedTensor.FromFloat32(HuggingFaceLlamaNames.Embedding, [vocab, dim], embedding),
            NamedTensor.FromFloat32(HuggingFaceLlamaNames.FinalNorm, [dim], finalNorm),
        };
        for (int layer = 0; layer < layers; layer++)
        {
            tensors.Add(NamedTensor.FromFloat32(HuggingFaceLlamaNames.InputNorm(layer), [dim], Layer(attentionNorm, layer, dim)));
            tensors.Add(NamedTensor.FromFloat32(HuggingFaceLlamaNames.PostAttentionNorm(layer), [dim], Layer(ffnNorm, layer, dim)));
            tensors.Add(NamedTensor.FromFloat32(HuggingFaceLlamaNames.Weight(layer, LlamaProjection.Query), [dim, dim],
                RotaryLayout.InterleavedToHalves(Layer(wq, layer, dim * dim), heads, headDim, dim)));
            tensors.Add(NamedTensor.FromFloat32(HuggingFaceLlamaNames.Weight(layer, LlamaProjection.Key), [kvDim, dim],
                RotaryLayout.InterleavedToHalves(Layer(wk, layer, kvDim * dim), kvHeads, headDim, dim)));
            tensors.Add(NamedTensor.FromFloat32(HuggingFaceLlamaNames.Weight(layer, LlamaProjection.Value), [kvDim, dim], Layer(wv, layer, kvDim * dim)));
            tensors.Add(NamedTensor.FromFloat32(HuggingFaceLlamaNames.Weight(layer, LlamaProjection.Output), [dim, dim], Layer(wo, layer, dim * dim)));
            tensors.Add(NamedTensor.FromFloat32(HuggingFaceLlamaNames.Weight(layer, LlamaProjection.Gate), [hidden, dim], Layer(w1, layer, hidden * dim)));
            tensors.Add(NamedTensor.FromFloat32(HuggingFaceLlamaNames.Weight(layer, LlamaProjection.Down), [dim, hidden], Layer(w2, layer, dim * hidden)));
            tensors.Add(NamedTensor.FromFloat32(HuggingFaceLlamaNames.Weight(layer, LlamaProjection.Up), [hidden, dim], Layer(w3, layer, hidden * dim)));
        }

        var folder = Directory.CreateTempSubdirectory("terse-stories-");
        try
        {
            config.Write(Path.Combine(folder.FullName, "config.json"));
            var modelPath = Path.Combine(folder.FullName, "model.safetensors");
            Safetensors.Write(modelPath, tensors, Safetensors.PyTorchMetadata);

            var readConfig = HuggingFaceLlamaConfig.Read(Path.Combine(folder.FullName, "config.json"));
            using var reader = Safetensors.Open(modelPath);
            HuggingFaceLlamaNames.Check(reader.Tensors, readConfig, modelPath);
            Assert.Equal("pt", reader.Metadata["format"]);
            // SOURCES.md counts 264,128 floats, which include llama2.c's RoPE tables (seq_len × head_dim).
            Assert.Equal(264_128 - seqLen * headDim, reader.Tensors.Sum(t => t.ElementCount));

            Assert.Equal(embedding, reader.ReadFloat32(HuggingFaceLlamaNames.Embedding));
            for (int layer = 0; layer < layers; layer++)
            {
                Assert.Equal(Layer(wq, layer, dim * dim), RotaryLayout.HalvesToInterleaved(
                    reader.ReadFloat32(HuggingFaceLlamaNames.Weight(layer, LlamaProjection.Query)), readConfig.NumAttentionHeads, readConfig.HeadDim, readConfig.HiddenSize));
                Assert.Equal(Layer(wk, layer, kvDim * dim), RotaryLayout.HalvesToInterleaved(
                    reader.ReadFloat32(HuggingFaceLlamaNames.Weight(layer, LlamaProjection.Key)), readConfig.NumKeyValueHeads, readConfig.HeadDim, readConfig.HiddenSize));
                Assert.Equal(Layer(w2, layer, dim * hidden), reader.ReadFloat32(HuggingFaceLlamaNames.Weight(layer, LlamaProjection.Down)));
            }

            // A config that disagrees with the weights is caught by name.
            var wrong = readConfig with { NumKeyValueHeads = 8 };
            var error = Assert.Throws<InvalidDataException>(() => HuggingFaceLlamaNames.Check(reader.Tensors, wrong, modelPath));
            Assert.Contains("model.layers.0.self_attn.k_proj.weight' has shape [32, 64] but config.json implies [64, 64]", error.Message);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
