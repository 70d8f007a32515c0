using Terse.Neural;
using Terse.Neural.Training;

namespace Terse.Tests.Neural;

/// <summary>
/// Non-finite numbers stop training and are refused at load (issue 14: <c>lm train --lr 1e9</c>
/// wrote NaN weights and exited 0; NaN adapters loaded and broke the JSON writer later).
/// </summary>
public sealed class DivergenceTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("terse-divergence-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static LlamaModel Tiny() => LlamaModel.CreateRandom(new LlamaConfig(16, 32, 1, 2, 2, 32, 16), seed: 5);

    [Fact]
    public void AnUpdateThatMakesAWeightNonFiniteThrows()
    {
        var model = Tiny();
        var optimizer = new AdamW(model.Parameters);
        var gradients = new Gradients(model.Parameters);
        gradients.Of(model.Parameters[0])[3] = float.NaN;
        var e = Assert.Throws<TrainingDivergedException>(() => optimizer.Step(gradients, 1e-3f));
        Assert.Contains(model.Parameters[0].Name, e.Message);
    }

    [Fact]
    public void ATrainerWithAHugeLearningRateStopsAtTheFirstNonFiniteLoss()
    {
        var model = Tiny();
        var settings = new TrainingSettings { BatchSize = 2, SequenceLength = 8, TotalSteps = 50, WarmupSteps = 1, LearningRate = 1e30f, MinLearningRate = 1e30f, GradientClip = 0 };
        var trainer = new Trainer(model, settings);
        var corpus = Enumerable.Range(0, 200).Select(i => i * 7 % 32).ToArray();
        var e = Assert.Throws<TrainingDivergedException>(() =>
        {
            while (trainer.Step < 50)
                trainer.TrainStep(corpus);
        });
        Assert.Contains("training diverged at update", e.Message);
        Assert.True(trainer.Step < 50);
    }

    [Fact]
    public void AnAdapterWithANaNIsRefusedAtLoadNamingTheTensor()
    {
        var model = Tiny();
        var adapter = model.AddAdapter("a", new LoraSettings(2, 4f));
        adapter.Parameters[1].Value.Span[0] = float.NaN;
        AdapterFiles.Save(adapter, Path.Combine(folder, "nan"));
        model.RemoveAdapter("a");
        var e = Assert.Throws<InvalidDataException>(() => AdapterFiles.Load(model, Path.Combine(folder, "nan"), "b"));
        Assert.Contains("holds a non-finite value (NaN", e.Message);
        Assert.Contains("lora_", e.Message);
    }
}
