namespace Terse.ZTokens;

/// <summary>
/// The two gradient estimators that carry the reconstruction loss back through the compressor's
/// discrete choices. At each step the compressor's logits l over the emit choices (the |Z| codes, then
/// End) are perturbed with Gumbel noise g at temperature τ: u = l/τ + g. The chosen symbol is argmax u
/// — a sample of softmax(l/τ) — so the forward pass is always hard, as at inference.
/// <list type="bullet">
/// <item><b>Which code</b>: straight-through Gumbel-softmax. The decompressor reads the hard code's
/// embedding; its gradient is passed to the logits as if it had read Σ_j y_j·E_j with the soft
/// y = softmax(u) over the codes: ∂L/∂l_j = (1/τ)·y_j·(dy_j − Σ_k y_k·dy_k), dy_j = ⟨∂L/∂input, E_j⟩.</item>
/// <item><b>When to stop</b> (the code's length): the score function (REINFORCE). Stopping at step k has
/// probability p_k = softmax(l_k/τ)[End]; a code of length L took "continue" at steps 2 … L (the first
/// step may not stop) and "stop" at L + 1 unless L is the maximum. Its log-probability's gradient,
/// times the sample's advantage, is the length's gradient.</item>
/// </list>
/// </summary>
internal static class DiscreteBottleneck
{
    /// <summary>Fills <paramref name="noise"/> with standard Gumbel samples −log(−log U).</summary>
    public static void SampleGumbel(Random random, Span<float> noise)
    {
        for (int i = 0; i < noise.Length; i++)
        {
            double u = random.NextDouble();
            // U in (0, 1): 0 would give −log(−log 0) = −∞ and 1 would give +∞.
            u = Math.Clamp(u, 1e-12, 1 - 1e-12);
            noise[i] = (float)-Math.Log(-Math.Log(u));
        }
    }

    /// <summary>
    /// argmax of l/τ + g over the emit choices (codes, then End last); End is excluded unless
    /// <paramref name="mayStop"/>. Without noise (empty) this is the greedy choice.
    /// </summary>
    public static int Choose(ReadOnlySpan<float> choiceLogits, ReadOnlySpan<float> noise, float temperature, bool mayStop)
    {
        int count = mayStop ? choiceLogits.Length : choiceLogits.Length - 1;
        int best = 0;
        float bestValue = float.NegativeInfinity;
        for (int j = 0; j < count; j++)
        {
            float value = noise.IsEmpty ? choiceLogits[j] : choiceLogits[j] / temperature + noise[j];
            if (value > bestValue)
            {
                bestValue = value;
                best = j;
            }
        }
        return best;
    }

    /// <summary>
    /// Straight-through backward over the codes: adds scale·∂L/∂l to <paramref name="dLogits"/> (|Z| values)
    /// given the upstream gradient w.r.t. the soft one-hot <paramref name="dSoft"/> (|Z| values).
    /// <paramref name="codeLogits"/> and <paramref name="noise"/> are the first |Z| of the emit choices.
    /// </summary>
    public static void StraightThroughBackward(ReadOnlySpan<float> codeLogits, ReadOnlySpan<float> noise, float temperature,
        ReadOnlySpan<float> dSoft, Span<float> dLogits, float scale)
    {
        int n = codeLogits.Length;
        Span<float> soft = n <= 2048 ? stackalloc float[n] : new float[n];
        SoftChoice(codeLogits, noise, temperature, soft);
        double mean = 0;
        for (int j = 0; j < n; j++)
            mean += soft[j] * (double)dSoft[j];
        float factor = scale / temperature;
        for (int j = 0; j < n; j++)
            dLogits[j] += factor * soft[j] * (float)(dSoft[j] - mean);
    }

    /// <summary>y = softmax(l/τ + g).</summary>
    public static void SoftChoice(ReadOnlySpan<float> logits, ReadOnlySpan<float> noise, float temperature, Span<float> soft)
    {
        float max = float.NegativeInfinity;
        for (int j = 0; j < logits.Length; j++)
        {
            soft[j] = logits[j] / temperature + noise[j];
            max = Math.Max(max, soft[j]);
        }
        double sum = 0;
        for (int j = 0; j < logits.Length; j++)
        {
            soft[j] = MathF.Exp(soft[j] - max);
            sum += soft[j];
        }
        for (int j = 0; j < logits.Length; j++)
            soft[j] = (float)(soft[j] / sum);
    }

    /// <summary>
    /// log π of one stop/continue decision, π(stop) = softmax(l/τ)[End] over the emit choices (End last),
    /// and adds scale·∂ log π / ∂l to <paramref name="dLogits"/>.
    /// </summary>
    public static double StopDecision(ReadOnlySpan<float> choiceLogits, float temperature, bool stop, Span<float> dLogits, float scale)
    {
        int n = choiceLogits.Length, end = n - 1;
        float max = float.NegativeInfinity;
        foreach (float value in choiceLogits)
            max = Math.Max(max, value / temperature);
        double sum = 0;
        for (int j = 0; j < n; j++)
            sum += Math.Exp(choiceLogits[j] / temperature - max);
        double pStop = Math.Exp(choiceLogits[end] / temperature - max) / sum;
        // ∂p/∂l_j = (1/τ)·p·(δ_j,End − π_j);  ∂log p/∂l_j = (1/τ)(δ − π_j);  ∂log(1 − p)/∂l_j = −(1/τ)·p·(δ − π_j)/(1 − p).
        double weight = stop ? 1.0 : -pStop / Math.Max(1 - pStop, 1e-12);
        for (int j = 0; j < n; j++)
        {
            double pj = Math.Exp(choiceLogits[j] / temperature - max) / sum;
            double delta = (j == end ? 1.0 : 0.0) - pj;
            dLogits[j] += (float)(scale * weight * delta / temperature);
        }
        return stop ? Math.Log(Math.Max(pStop, 1e-300)) : Math.Log(Math.Max(1 - pStop, 1e-300));
    }
}
