using Terse.Neural;
using Terse.Tests.Neural;
using Terse.ZTokens;

namespace Terse.Tests.ZTokens;

/// <summary>
/// Finite-difference checks of the Z-token training paths (the same bound as the engine's
/// <see cref="GradientCheckTests"/>): the two estimators on their own, and the whole pipeline —
/// compressor, relaxed code, decompressor — against its forward objective for fixed samples.
/// </summary>
public class ZTokenGradientTests
{
    /// <summary>
    /// The whole pipeline is sharply curved in the delimiter rows (2% truncation error at the engine's
    /// step 0.01, 0.05% at 0.003 — checked to converge); float32 noise is still far below the bound here.
    /// </summary>
    private const float PipelineStep = 3e-3f;

    [Fact]
    public void StraightThroughBackwardIsTheGradientOfTheSoftChoice()
    {
        var random = new Random(3);
        foreach (float temperature in new[] { 1f, 0.4f })
        {
            int codes = 7;
            var logits = GradientCheckTests.RandomArray(random, codes, 2);
            var noise = new float[codes];
            DiscreteBottleneck.SampleGumbel(random, noise);
            var upstream = GradientCheckTests.RandomArray(random, codes);
            double Loss()
            {
                var soft = new float[codes];
                DiscreteBottleneck.SoftChoice(logits, noise, temperature, soft);
                return GradientCheckTests.WeightedSum(soft, upstream);
            }
            var gradient = new float[codes];
            DiscreteBottleneck.StraightThroughBackward(logits, noise, temperature, upstream, gradient, 1f);
            GradientCheckTests.Check($"straight-through τ={temperature}", Loss, logits, gradient, random);
        }
    }

    [Fact]
    public void StopDecisionGradientIsTheGradientOfItsLogProbability()
    {
        var random = new Random(4);
        foreach (bool stop in new[] { true, false })
            foreach (float temperature in new[] { 1f, 0.5f })
            {
                var logits = GradientCheckTests.RandomArray(random, 6, 2);
                logits[^1] += 1.5f; // make stopping likely enough that both branches have sizeable gradients
                var gradient = new float[6];
                DiscreteBottleneck.StopDecision(logits, temperature, stop, gradient, 1f);
                double Loss() => DiscreteBottleneck.StopDecision(logits, temperature, stop, new float[6], 0f);
                GradientCheckTests.Check($"stop={stop} τ={temperature}", Loss, logits, gradient, random);
            }
    }

    [Fact]
    public void TheWholePipelineGradientMatchesFiniteDifferencesWhenRelaxed()
    {
        var model = ZTokenTestModels.Tiny(seed: 5, codes: 6, segment: 4, maxCode: 3);
        ZTokenTestModels.Perturb(model, 6, 0.1f, model.Compressor, model.Decompressor);
        var random = new Random(6);
        var trainer = new ZTokenTrainer(model, new ZTokenTrainingSettings { BatchSize = 2, ContinuationWeight = 0.5f, Seed = 9 });
        int[][] segments = [[3, 4, 5, 6], [7, 7, 2, 9]];
        int[][] following = [[1, 2, 3, 4], [9, 8, 7, 6]];
        var work = new ZTokenTrainer.Batch(segments, following, temperature: 0.7f, softness: 1f);
        work.Samples = trainer.SampleCodes(segments, 11, work.Temperature);
        trainer.Backpropagate(work, lengthGradient: false);

        var checkedParameters = new[]
        {
            model.Compressor.Parameters.First(p => p.Name.Contains("layers.1.self_attn.q_proj.lora_B")),
            model.Compressor.Parameters.First(p => p.Name.Contains("layers.0.mlp.up_proj.lora_A")),
            model.Decompressor.Parameters.First(p => p.Name.Contains("layers.0.self_attn.v_proj.lora_B")),
            model.Model.Parameters[Terse.Neural.Checkpoints.HuggingFaceLlamaNames.Embedding],
        };
        foreach (var parameter in checkedParameters)
        {
            var gradient = trainer.Gradients.Of(parameter).ToArray();
            var x = parameter.Value.Span.ToArray();
            if (parameter.FrozenRows > 0)
            {
                // Only the new rows train: check each (a code the samples use, and the delimiters), the others held fixed.
                int d = parameter.Shape[1];
                var v = model.Vocabulary;
                foreach (int id in new[] { work.Samples[0].Codes[0], v.Begin, v.End, v.Continue })
                {
                    var row = x.AsSpan(id * d, d).ToArray();
                    double RowLoss()
                    {
                        row.CopyTo(parameter.Value.Span.Slice(id * d, d));
                        return trainer.Objective(work);
                    }
                    GradientCheckTests.Check($"embedding row {id}", RowLoss, row, gradient.AsSpan(id * d, d).ToArray(), random, step: PipelineStep);
                    x.CopyTo(parameter.Value.Span);
                }
                continue;
            }
            double Loss()
            {
                x.CopyTo(parameter.Value.Span);
                return trainer.Objective(work);
            }
            GradientCheckTests.Check(parameter.Name, Loss, x, gradient, random, elements: 4, step: PipelineStep);
            x.CopyTo(parameter.Value.Span);
        }
    }
}
