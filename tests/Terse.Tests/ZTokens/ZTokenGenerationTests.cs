using Terse.Neural;
using Terse.Neural.Training;
using Terse.ZTokens;

namespace Terse.Tests.ZTokens;

/// <summary>Z-space generation: the inferencer learns to write the next code, generates valid codes and text, and saves and loads.</summary>
public class ZTokenGenerationTests
{
    /// <summary>A tiny scrambled model and a text whose segments repeat with period 3, so the next code follows from the codes before it.</summary>
    private static (ZTokenModel Model, int[] Corpus) Setup(int seed)
    {
        var model = ZTokenTestModels.Tiny(seed, codes: 8, segment: 6, maxCode: 4);
        ZTokenTestModels.Perturb(model, seed, 0.5f, model.Compressor, model.Decompressor);
        var random = new Random(seed);
        var period = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 6).Select(_ => random.Next(2, 16)).ToArray()).ToArray();
        var corpus = Enumerable.Range(0, 60).SelectMany(i => period[i % 3]).ToArray();
        return (model, corpus);
    }

    [Fact]
    public void The_inferencer_learns_to_write_the_next_code()
    {
        var (model, corpus) = Setup(5);
        var losses = new List<float>();
        ZTokenGeneration.Train(model, corpus, contextSegments: 2, new PrefixTuningSettings(Steps: 60, BatchSize: 4, LearningRate: 1e-2f, MinLearningRate: 1e-2f, WarmupSteps: 1),
            new SynchronousProgress<PrefixTuningStep>(step => losses.Add(step.Loss)));
        Assert.Equal(60, losses.Count);
        Assert.True(losses.TakeLast(5).Average() < 0.5 * losses.Take(5).Average(), $"loss {losses.Take(5).Average()} → {losses.TakeLast(5).Average()}");
    }

    [Fact]
    public void Generation_writes_whole_segments_from_valid_codes_and_survives_save_and_load()
    {
        var (model, corpus) = Setup(6);
        var generation = ZTokenGeneration.Train(model, corpus, contextSegments: 2, new PrefixTuningSettings(Steps: 5, BatchSize: 2));
        var (text, codes) = generation.Generate(corpus.AsSpan(0, 14), segments: 3);
        Assert.Equal(3 * 6, text.Length);
        Assert.All(text, id => Assert.InRange(id, 0, 15));
        Assert.Equal(3, codes.Count);
        Assert.All(codes, code =>
        {
            Assert.InRange(code.Length, 1, 4);
            Assert.All(code, id => Assert.True(model.Vocabulary.IsCode(id)));
        });

        var folder = Directory.CreateTempSubdirectory("terse-inferencer-");
        try
        {
            generation.Save(folder.FullName);
            model.Model.RemoveAdapter(ZTokenGeneration.InferencerName);
            var loaded = ZTokenGeneration.Load(model, folder.FullName)!;
            Assert.Equal(2, loaded.ContextSegments);
            var (again, againCodes) = loaded.Generate(corpus.AsSpan(0, 14), segments: 3);
            Assert.Equal(text, again);
            Assert.Equal(codes.SelectMany(c => c), againCodes.SelectMany(c => c));
            Assert.Null(ZTokenGeneration.Load(model, Path.Combine(folder.FullName, "nothing here")));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void The_held_out_figures_add_up()
    {
        var (model, corpus) = Setup(7);
        var generation = ZTokenGeneration.Train(model, corpus, contextSegments: 2, new PrefixTuningSettings(Steps: 3, BatchSize: 2));
        var baseModel = LlamaModel.CreateRandom(new LlamaConfig(16, 32, 2, 2, 1, 16, 64), 7);
        var figures = generation.Evaluate(corpus, baseModel, maxSegments: 10);
        Assert.Equal(10, figures.Segments);
        Assert.Equal(figures.CodeBits + figures.TextAfterCodeBits, figures.ZSpaceBits, 12);
        foreach (double bits in new[] { figures.CodeBits, figures.UniformCodeBits, figures.TextAfterCodeBits, figures.TextSpaceBits })
            Assert.True(double.IsFinite(bits) && bits > 0, $"{bits}");
        Assert.InRange(figures.ZStepsPerSegment, 2, 5);
        Assert.Throws<ArgumentException>(() => generation.Evaluate(corpus.AsSpan(0, 12), baseModel));
    }

    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
