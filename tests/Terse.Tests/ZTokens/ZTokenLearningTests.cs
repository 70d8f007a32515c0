using Terse.ZTokens;

namespace Terse.Tests.ZTokens;

/// <summary>A tiny model on a tiny synthetic task: the loss falls and segments come back exactly from their codes alone.</summary>
public class ZTokenLearningTests
{
    /// <summary>Segments of 4 tokens drawn uniformly from 4 symbols (8 bits each): nothing to predict, so the code must carry them.</summary>
    private static int[] SyntheticCorpus(int tokens, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, tokens).Select(_ => 2 + random.Next(4))];
    }

    [Fact]
    public void ATinyModelLearnsToReconstructExactlyFromItsCodes()
    {
        var model = ZTokenTestModels.Tiny(seed: 21, codes: 16, segment: 4, maxCode: 4, dim: 32, rank: 8);
        var corpus = SyntheticCorpus(4000, 22);
        model.InitializeCodesFrom(ZTokenModel.MostFrequentTokens(corpus, model.Vocabulary.BaseSize, model.Vocabulary.CodeCount));
        // A teacher warm start (copy the segment into codes), then end-to-end steps through the sampled bottleneck.
        const int steps = 500;
        var trainer = new ZTokenTrainer(model, new ZTokenTrainingSettings
        {
            BatchSize = 8, TotalSteps = steps, WarmupSteps = 10, LearningRate = 1e-2f, MinLearningRate = 1e-3f,
            TeacherSteps = 300, Teacher = TeacherCode.Prefix, RateWeight = 0.01f, Budget = 1, ContinuationWeight = 0,
            StartTemperature = 0.5f, EndTemperature = 0.2f, NoiseScale = 0.3f, Seed = 23,
        });
        var losses = new List<float>();
        for (int step = 0; step < steps; step++)
            losses.Add(trainer.TrainStep(corpus).ReconstructionBits);
        float first = losses.Take(10).Average(), last = losses.TakeLast(10).Average();
        Assert.True(first > 1.5f, $"reconstruction starts near 2 bits/token (uniform over 4 symbols), got {first}");
        Assert.True(last < 0.5f * first, $"reconstruction loss {first:F3} → {last:F3} bits/token");

        var heldOut = SyntheticCorpus(200, 24);
        var codec = new ZTokenCodec(model);
        int exact = 0, segments = heldOut.Length / 4;
        for (int i = 0; i < segments; i++)
        {
            var segment = heldOut.AsSpan(i * 4, 4);
            var code = codec.Encode(segment);
            if (codec.FindCorrections(code, segment).Count == 0)
            {
                exact++;
                Assert.Equal(segment.ToArray(), codec.Decode(code, 4, Corrections.None));
            }
        }
        Assert.True(exact >= segments * 0.9, $"{exact} of {segments} held-out segments restored exactly from the code alone");
    }
}
