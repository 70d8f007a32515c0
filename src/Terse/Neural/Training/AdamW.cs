using Terse.Neural.Numerics;

namespace Terse.Neural.Training;

/// <summary>AdamW hyper-parameters (learning rate comes per step, from a schedule).</summary>
public sealed record AdamWSettings(float Beta1 = 0.9f, float Beta2 = 0.95f, float Epsilon = 1e-8f, float WeightDecay = 0.1f);

/// <summary>
/// Adam with decoupled weight decay (Loshchilov &amp; Hutter): p ← p − lr·(m̂ / (√v̂ + ε) + λ·p) with
/// bias-corrected moments m̂ = m / (1 − β1ᵗ), v̂ = v / (1 − β2ᵗ). Weight decay applies to matrices
/// (embeddings and projections), not to norm weights or biases. Frozen parameters, and the
/// <see cref="Parameter.FrozenRows"/> of the others, are left unchanged.
/// </summary>
public sealed class AdamW
{
    private readonly Dictionary<Parameter, (FloatBuffer M, FloatBuffer V)> _moments = [];

    public AdamW(IEnumerable<Parameter> parameters, AdamWSettings? settings = null)
    {
        Settings = settings ?? new AdamWSettings();
        foreach (var parameter in parameters)
            _moments[parameter] = (new FloatBuffer(parameter.Length), new FloatBuffer(parameter.Length));
    }

    public AdamWSettings Settings { get; }

    /// <summary>Updates taken so far (t in the bias correction).</summary>
    public long StepCount { get; internal set; }

    internal IEnumerable<(Parameter Parameter, FloatBuffer M, FloatBuffer V)> Moments =>
        _moments.Select(entry => (entry.Key, entry.Value.M, entry.Value.V));

    public void Step(Gradients gradients, float learningRate)
    {
        long t = ++StepCount;
        float beta1 = Settings.Beta1, beta2 = Settings.Beta2, epsilon = Settings.Epsilon;
        float correction1 = 1f - MathF.Pow(beta1, t), correction2 = 1f - MathF.Pow(beta2, t);
        foreach (var (parameter, (mBuffer, vBuffer)) in _moments)
        {
            var g = gradients.Of(parameter);
            if (g.IsEmpty)
                continue;
            var p = parameter.Value.Span;
            var m = mBuffer.Span;
            var v = vBuffer.Span;
            float decay = parameter.Shape.Count >= 2 ? Settings.WeightDecay : 0f;
            int start = parameter.FrozenRows * (parameter.Length / parameter.Shape[0]);
            for (int i = start; i < p.Length; i++)
            {
                m[i] = beta1 * m[i] + (1f - beta1) * g[i];
                v[i] = beta2 * v[i] + (1f - beta2) * g[i] * g[i];
                float mHat = m[i] / correction1, vHat = v[i] / correction2;
                p[i] -= learningRate * (mHat / (MathF.Sqrt(vHat) + epsilon) + decay * p[i]);
            }
            if (ModelFiles.IndexOfNonFinite(p[start..]) >= 0)
                throw new TrainingDivergedException($"training diverged at update {t}: {parameter.Name} is no longer finite " +
                    $"(learning rate {learningRate:G3}; a lower one may train)");
        }
    }
}

/// <summary>
/// Training produced a non-finite loss, gradient or weight: nothing after it can be trusted, so the
/// trainer stops instead of saving NaN weights. What was saved before (checkpoints) is untouched.
/// </summary>
public sealed class TrainingDivergedException(string message) : ArithmeticException(message);

/// <summary>Learning-rate schedules.</summary>
public static class LearningRateSchedule
{
    /// <summary>
    /// Linear warm-up from max/warmup to max over <paramref name="warmupSteps"/>, then a cosine
    /// decay to <paramref name="minimum"/> at <paramref name="totalSteps"/> (and flat after).
    /// </summary>
    public static float WarmupCosine(int step, int warmupSteps, int totalSteps, float maximum, float minimum)
    {
        if (step < warmupSteps)
            return maximum * (step + 1) / warmupSteps;
        double progress = Math.Clamp((double)(step - warmupSteps) / Math.Max(1, totalSteps - warmupSteps), 0, 1);
        return (float)(minimum + 0.5 * (1 + Math.Cos(Math.PI * progress)) * (maximum - minimum));
    }
}
