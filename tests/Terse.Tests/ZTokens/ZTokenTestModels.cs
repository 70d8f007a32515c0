using System.Numerics.Tensors;
using Terse.Neural;
using Terse.ZTokens;

namespace Terse.Tests.ZTokens;

internal static class ZTokenTestModels
{
    /// <summary>
    /// A small random base (vocabulary 16, BOS 1) extended into a Z-token model. Its embedding is scaled
    /// up from the GPT-2 initialisation (σ 0.02) to σ 0.2, so that logits are not all near zero and a
    /// finite-difference step of 0.01 is small against a row.
    /// </summary>
    public static ZTokenModel Tiny(int seed, int codes = 8, int segment = 6, int maxCode = 4, int dim = 16, int layers = 2, int rank = 4)
    {
        var baseModel = LlamaModel.CreateRandom(new LlamaConfig(dim, 2 * dim, layers, 2, 1, 16, 64), seed);
        var embedding = baseModel.Parameters[Terse.Neural.Checkpoints.HuggingFaceLlamaNames.Embedding].Value.Span;
        TensorPrimitives.Multiply(embedding, 10f, embedding);
        return ZTokenModel.Create(baseModel, "tiny", new ZTokenShape(codes, segment, maxCode, rank, 2 * rank), bos: 1, seed);
    }

    /// <summary>Sets every weight of the given adapters uniformly in ±<paramref name="scale"/> (LoRA's B starts at 0: a fresh adapter changes nothing), and forgets the model's cached identity.</summary>
    public static void Perturb(ZTokenModel model, int seed, float scale, params LoraAdapter[] adapters)
    {
        var random = new Random(seed);
        foreach (var adapter in adapters)
            foreach (var parameter in adapter.Parameters)
                foreach (ref float value in parameter.Value.Span)
                    value = scale * (float)(random.NextDouble() * 2 - 1);
        model.InvalidateIdentity();
    }
}
