using Terse.Neural;
using Terse.Neural.Numerics;

namespace Terse.Tests.Neural;

/// <summary>Changes the process-wide thread budget, so its tests do not run beside others that do.</summary>
[CollectionDefinition(nameof(ThreadBudgetCollection), DisableParallelization = true)]
public class ThreadBudgetCollection;

[Collection(nameof(ThreadBudgetCollection))]
public class DeterminismTests
{
    // Wide enough that every matrix product and the attention are split over two threads.
    private static readonly LlamaModel Wide = LlamaModel.CreateRandom(
        new LlamaConfig(Dim: 256, HiddenDim: 688, Layers: 2, Heads: 8, KvHeads: 2, VocabSize: 3000, MaxSequenceLength: 300, AttentionBias: true), seed: 7);

    private static readonly int[] Tokens = Enumerable.Range(0, 150).Select(i => (i * 7919 + 13) % 3000).ToArray();

    private static float[] StepAll(LlamaModel model, int threads, Gemm gemm)
    {
        int saved = Compute.Threads;
        var savedGemm = model.Gemm;
        try
        {
            Compute.Threads = threads;
            model.Gemm = gemm;
            var session = model.CreateSession();
            var all = new List<float>();
            foreach (int token in Tokens)
                all.AddRange(session.Step(token).ToArray());
            return all.ToArray();
        }
        finally
        {
            Compute.Threads = saved;
            model.Gemm = savedGemm;
        }
    }

    [Fact]
    public void StepLogitsAreBitIdenticalForOneOrTwoThreadsAndEitherGemmBackend()
    {
        Assert.NotNull(Gemm.OpenBlas);
        var reference = StepAll(Wide, 1, Gemm.Managed);
        Assert.Equal(reference, StepAll(Wide, 2, Gemm.Managed));
        Assert.Equal(reference, StepAll(Wide, 1, Gemm.OpenBlas!));
        Assert.Equal(reference, StepAll(Wide, 2, Gemm.OpenBlas!));
    }

    [Fact]
    public void PrefillInChunksOfAnySizeEqualsSteppingBitForBit()
    {
        var stepped = StepAll(Wide, Compute.Threads, Wide.Gemm);
        int vocab = Wide.Config.VocabSize;
        foreach (int chunk in new[] { 1, 3, 64, 65, 150 })
        {
            var session = Wide.CreateSession();
            var logits = new float[Tokens.Length * vocab];
            for (int start = 0; start < Tokens.Length; start += chunk)
            {
                int count = Math.Min(chunk, Tokens.Length - start);
                session.Prefill(Tokens.AsSpan(start, count), logits.AsSpan(start * vocab, count * vocab));
            }
            Assert.Equal(stepped, logits);
        }
        var lastOnly = Wide.CreateSession().Prefill(Tokens).ToArray();
        Assert.Equal(stepped.AsSpan(stepped.Length - vocab).ToArray(), lastOnly);
    }

    [Fact]
    public void FeedingAnEmbeddingRowEqualsFeedingItsToken()
    {
        var model = ModelFixtures.Stories260K;
        int d = model.Config.Dim;
        var table = model.Parameters[ParameterNames.Embedding].Value.Span;
        var byToken = model.CreateSession();
        var byEmbedding = model.CreateSession();
        foreach (int token in new[] { 1, 400, 12, 99 })
            Assert.Equal(byToken.Step(token).ToArray(), byEmbedding.Step(table.Slice(token * d, d)).ToArray());
    }

    [Fact]
    public void RewindThenRefeedReproducesTheSameLogits()
    {
        var session = ModelFixtures.Stories260K.CreateSession();
        session.Prefill([1, 400, 12]);
        var first = session.Step(99).ToArray();
        session.Rewind(3);
        Assert.Equal(first, session.Step(99).ToArray());
        Assert.Equal(4, session.Position);
    }
}
