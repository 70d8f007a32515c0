using Terse.Neural;
using Terse.Neural.Training;
using Terse.Tests.Infrastructure;
using Terse.Tokenization;
using Terse.Tokenization.Llama2c;

namespace Terse.Tests.Neural;

public class TrainingTests
{
    private static LlamaModel Tiny(int seed) => LlamaModel.CreateRandom(new LlamaConfig(32, 64, 2, 4, 2, 50, 32), seed);

    private static int[] RandomTokens(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.Next(50)).ToArray();
    }

    [Fact]
    public void ATinyModelOverfitsOneBatchToNearZeroLoss()
    {
        var model = Tiny(1);
        var corpus = RandomTokens(17, 2); // exactly one window of 16 → 16 targets
        var trainer = new Trainer(model, new TrainingSettings
        {
            BatchSize = 2, SequenceLength = 16, TotalSteps = 200, WarmupSteps = 5, LearningRate = 1e-2f, MinLearningRate = 1e-3f,
            Optimizer = new AdamWSettings(WeightDecay: 0f),
        });
        float first = trainer.TrainStep(corpus).Loss;
        float last = first;
        for (int step = 1; step < 200; step++)
            last = trainer.TrainStep(corpus).Loss;
        Assert.True(first > 3.5f, $"a random model starts near ln 50 ≈ 3.9, got {first}");
        Assert.True(last < 0.05f, $"loss after 200 steps: {last}");
    }

    private static TrainingSettings Small => new()
    {
        BatchSize = 2, SequenceLength = 8, AccumulationSteps = 2, TotalSteps = 6, WarmupSteps = 2, LearningRate = 3e-3f, Seed = 77,
    };

    private static float[][] Snapshot(LlamaModel model) => model.Parameters.Select(p => p.Value.Span.ToArray()).ToArray();

    [Fact]
    public void TheSameSeedGivesTheSameWeights()
    {
        var corpus = RandomTokens(300, 3);
        var a = Tiny(5);
        var b = Tiny(5);
        var trainerA = new Trainer(a, Small);
        var trainerB = new Trainer(b, Small);
        for (int i = 0; i < 4; i++)
            Assert.Equal(trainerA.TrainStep(corpus).Loss, trainerB.TrainStep(corpus).Loss);
        Assert.Equal(Snapshot(a), Snapshot(b));
        var c = Tiny(5);
        var trainerC = new Trainer(c, Small with { Seed = 78 });
        for (int i = 0; i < 4; i++)
            trainerC.TrainStep(corpus);
        Assert.NotEqual(Snapshot(a), Snapshot(c));
    }

    [Fact]
    public void ResumingFromACheckpointContinuesExactly()
    {
        var corpus = RandomTokens(300, 4);
        var straight = Tiny(6);
        var straightTrainer = new Trainer(straight, Small);
        for (int i = 0; i < 6; i++)
            straightTrainer.TrainStep(corpus);

        var path = Path.Combine(Path.GetTempPath(), $"terse-train-{Guid.NewGuid():N}.safetensors");
        try
        {
            var first = Tiny(6);
            var firstTrainer = new Trainer(first, Small);
            for (int i = 0; i < 3; i++)
                firstTrainer.TrainStep(corpus);
            firstTrainer.SaveCheckpoint(path);

            var resumed = Tiny(6); // fresh weights: everything trained comes from the checkpoint
            var resumedTrainer = new Trainer(resumed, Small);
            resumedTrainer.LoadCheckpoint(path);
            Assert.Equal(3, resumedTrainer.Step);
            for (int i = 0; i < 3; i++)
                resumedTrainer.TrainStep(corpus);
            Assert.Equal(Snapshot(straight), Snapshot(resumed));

            var otherShape = new Trainer(LlamaModel.CreateRandom(new LlamaConfig(32, 64, 1, 4, 2, 50, 32), 1), Small);
            Assert.Throws<InvalidDataException>(() => otherShape.LoadCheckpoint(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void LoraCheckpointsRefuseAnotherBase()
    {
        var corpus = RandomTokens(300, 5);
        var model = Tiny(7);
        foreach (var parameter in model.Parameters)
            parameter.Frozen = true;
        var adapter = model.AddAdapter("a", new LoraSettings(2, 4));
        var trainer = new Trainer(model, Small, adapter);
        trainer.TrainStep(corpus);
        var path = Path.Combine(Path.GetTempPath(), $"terse-lora-{Guid.NewGuid():N}.safetensors");
        try
        {
            trainer.SaveCheckpoint(path);
            Assert.Equal(3 * adapter.Parameters.Count, Terse.Neural.Checkpoints.Safetensors.Open(path).Tensors.Count);
            var otherBase = Tiny(8);
            foreach (var parameter in otherBase.Parameters)
                parameter.Frozen = true;
            var otherTrainer = new Trainer(otherBase, Small, otherBase.AddAdapter("a", new LoraSettings(2, 4)));
            Assert.Contains("base", Assert.Throws<InvalidDataException>(() => otherTrainer.LoadCheckpoint(path)).Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void AdamWMatchesTheFormulaAndRespectsFrozenRowsAndNoDecayOnNorms()
    {
        var model = LlamaModel.CreateRandom(new LlamaConfig(16, 24, 1, 2, 2, 6, 8), 1);
        var embedding = model.Parameters[Terse.Neural.Checkpoints.HuggingFaceLlamaNames.Embedding];
        var norm = model.Parameters[Terse.Neural.Checkpoints.HuggingFaceLlamaNames.FinalNorm];
        embedding.FrozenRows = 2;
        var optimizer = new AdamW([embedding, norm], new AdamWSettings(0.9f, 0.99f, 1e-8f, WeightDecay: 0.5f));
        var gradients = new Gradients([embedding, norm]);
        gradients.Of(embedding).Fill(0.25f);
        gradients.Of(norm).Fill(-1f);
        var before = embedding.Value.Span.ToArray();
        optimizer.Step(gradients, learningRate: 0.1f);
        // First step: m̂ = g, v̂ = g², so the Adam part is lr·sign(g) (up to ε); decay adds lr·λ·p for matrices only.
        for (int i = 0; i < before.Length; i++)
        {
            float expected = i < 2 * 16 ? before[i] : before[i] - 0.1f * (1f + 0.5f * before[i]);
            Assert.Equal(expected, embedding.Value.Span[i], 5);
        }
        Assert.All(norm.Value.Span.ToArray(), w => Assert.Equal(1f + 0.1f, w, 5));
    }

    [Fact]
    public void WarmupThenCosine()
    {
        Assert.Equal(0.25f, LearningRateSchedule.WarmupCosine(0, 4, 14, 1f, 0.1f), 5);
        Assert.Equal(1f, LearningRateSchedule.WarmupCosine(3, 4, 14, 1f, 0.1f), 5);
        Assert.Equal(1f, LearningRateSchedule.WarmupCosine(4, 4, 14, 1f, 0.1f), 5);
        Assert.Equal(0.55f, LearningRateSchedule.WarmupCosine(9, 4, 14, 1f, 0.1f), 5);
        Assert.Equal(0.1f, LearningRateSchedule.WarmupCosine(14, 4, 14, 1f, 0.1f), 5);
        Assert.Equal(0.1f, LearningRateSchedule.WarmupCosine(99, 4, 14, 1f, 0.1f), 5);
    }

    [Fact]
    public void ClippingBoundsTheGradientNorm()
    {
        var model = Tiny(9);
        var gradients = new Gradients(model.Parameters);
        foreach (var parameter in model.Parameters)
            gradients.Of(parameter).Fill(1f);
        double before = gradients.ClipNorm(2.0);
        Assert.Equal(Math.Sqrt(model.Parameters.ElementCount), before, 3);
        Assert.Equal(2.0, gradients.Norm(), 4);
    }

    [Fact]
    public void LoraFineTuningOnTinyStoriesLowersHeldOutLoss()
    {
        var model = Terse.Neural.Checkpoints.Llama2cCheckpoint.Load(TestData.Path("models/stories260K.bin"));
        foreach (var parameter in model.Parameters)
            parameter.Frozen = true;
        var tokenizer = Llama2cTokenizer.Stories260K;
        var text = TestData.ReadText("text/tinystories_valid_head.txt");
        // Train on the first 120 KB, evaluate on the last 20 KB (never trained on).
        var train = tokenizer.Encode(text[..120_000]);
        var heldOut = tokenizer.Encode(text[^20_000..]);
        var adapter = model.AddAdapter("tinystories", new LoraSettings(8, 16, Targets: Enum.GetValues<Terse.Neural.Checkpoints.LlamaProjection>()), seed: 1);
        double before = Perplexity.CrossEntropy(model, heldOut, tokenizer.BosId!.Value, window: 128, adapter: adapter).NatsPerToken;
        var trainer = new Trainer(model, new TrainingSettings
        {
            BatchSize = 8, SequenceLength = 128, TotalSteps = 40, WarmupSteps = 5, LearningRate = 1e-3f, MinLearningRate = 1e-4f, Seed = 3,
            Optimizer = new AdamWSettings(WeightDecay: 0f),
        }, adapter);
        for (int step = 0; step < 40; step++)
            trainer.TrainStep(train);
        double after = Perplexity.CrossEntropy(model, heldOut, tokenizer.BosId!.Value, window: 128, adapter: adapter).NatsPerToken;
        // Measured: about 2.00 → 1.94 nats/token (the base model never saw these stories' plain-text layout).
        Assert.True(after < before - 0.02, $"held-out loss {before:F4} → {after:F4} nats/token");
    }
}
