using Terse.Neural.Layers;

namespace Terse.Neural;

/// <summary>
/// Chooses the next token from logits as llama2.c's <c>run.c</c> does: greedy argmax at temperature 0,
/// otherwise softmax(logits / temperature) sampled with run.c's xorshift generator, restricted to the
/// smallest set of most likely tokens whose probability exceeds <see cref="TopP"/> when 0 &lt; top-p &lt; 1.
/// The same seed gives the same choices.
/// </summary>
public sealed class Sampler
{
    private ulong _state;
    private float[] _probabilities = [];
    private (float Probability, int Index)[] _candidates = [];

    /// <param name="seed">Any non-zero value (xorshift has no other fixed point).</param>
    public Sampler(float temperature, float topP = 0.9f, ulong seed = 1)
    {
        if (!(temperature >= 0) || float.IsInfinity(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "temperature must be a finite number ≥ 0");
        if (float.IsNaN(topP))
            throw new ArgumentOutOfRangeException(nameof(topP), topP, "top-p must be a number");
        ArgumentOutOfRangeException.ThrowIfZero(seed);
        Temperature = temperature;
        TopP = topP;
        _state = seed;
    }

    public float Temperature { get; }

    public float TopP { get; }

    public int Sample(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty)
            throw new ArgumentException("no logits", nameof(logits));
        if (Temperature == 0)
            return ArgMax(logits);
        if (_probabilities.Length != logits.Length)
            _probabilities = new float[logits.Length];
        var probabilities = _probabilities.AsSpan();
        for (int i = 0; i < logits.Length; i++)
            probabilities[i] = logits[i] / Temperature;
        Softmax.Forward(probabilities);
        float coin = NextFloat();
        return TopP <= 0 || TopP >= 1 ? SampleAll(probabilities, coin) : SampleTopP(probabilities, coin);
    }

    /// <summary>Index of the first largest value.</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best])
                best = i;
        return best;
    }

    /// <summary>−log2 softmax(<paramref name="logits"/>)[<paramref name="index"/>], in double precision: a token's surprisal in bits.</summary>
    public static double SurprisalBits(ReadOnlySpan<float> logits, int index)
    {
        float max = float.NegativeInfinity;
        foreach (float l in logits)
            max = Math.Max(max, l);
        double sum = 0;
        foreach (float l in logits)
            sum += Math.Exp(l - max);
        return (Math.Log(sum) - (logits[index] - max)) / Math.Log(2);
    }

    private static int SampleAll(ReadOnlySpan<float> probabilities, float coin)
    {
        float cdf = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            cdf += probabilities[i];
            if (coin < cdf)
                return i;
        }
        return probabilities.Length - 1;
    }

    private int SampleTopP(ReadOnlySpan<float> probabilities, float coin)
    {
        // Tokens below (1 − p)/(n − 1) cannot be in the nucleus; dropping them first keeps the sort short.
        float cutoff = (1f - TopP) / (probabilities.Length - 1);
        if (_candidates.Length != probabilities.Length)
            _candidates = new (float, int)[probabilities.Length];
        int count = 0;
        for (int i = 0; i < probabilities.Length; i++)
            if (probabilities[i] >= cutoff)
                _candidates[count++] = (probabilities[i], i);
        var candidates = _candidates.AsSpan(0, count);
        // Descending probability, ties in index order (glibc's qsort, used by run.c, is a stable merge sort here).
        candidates.Sort((a, b) => a.Probability != b.Probability ? b.Probability.CompareTo(a.Probability) : a.Index.CompareTo(b.Index));
        float cumulative = 0;
        int last = count - 1;
        for (int i = 0; i < count; i++)
        {
            cumulative += candidates[i].Probability;
            if (cumulative > TopP)
            {
                last = i;
                break;
            }
        }
        float r = coin * cumulative, cdf = 0;
        for (int i = 0; i <= last; i++)
        {
            cdf += candidates[i].Probability;
            if (r < cdf)
                return candidates[i].Index;
        }
        return candidates[last].Index;
    }

    /// <summary>run.c's xorshift* generator: a float in [0, 1) with 24 random bits.</summary>
    private float NextFloat()
    {
        _state ^= _state >> 12;
        _state ^= _state << 25;
        _state ^= _state >> 27;
        uint bits = (uint)((_state * 0x2545F4914F6CDD1DUL) >> 32);
        return (bits >> 8) / 16777216f;
    }
}
