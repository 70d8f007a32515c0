using Terse.Neural;
using Terse.Tokenization;

namespace Terse.Evaluation;

/// <summary>Forward cost of one sequence through a model, in FLOPs (multiply and add count two).</summary>
/// <param name="Total">Every matrix product (projections, feed-forward, output head) and attention.</param>
/// <param name="Attention">The attention part: scores and weighted sums, which grow with the square of the length.</param>
public readonly record struct ForwardCost(double Total, double Attention)
{
    /// <summary>The cost of feeding <paramref name="tokens"/> tokens to a model of shape <paramref name="config"/> (causal, with a KV cache).</summary>
    public static ForwardCost Of(LlamaConfig config, int tokens)
    {
        double d = config.Dim, kv = config.KvDim, h = config.HiddenDim;
        // Per token and layer: q, o (d × d), k, v (d × kv), gate, up, down (d × h); then the head (d × V).
        double perToken = config.Layers * (2 * d * d + 2 * d * kv + 3 * d * h) + d * config.VocabSize;
        // Position t attends to t + 1 positions: scores and weighted sum, d multiply-adds each.
        double attention = config.Layers * 2.0 * d * tokens * (tokens + 1.0);
        return new ForwardCost(2 * perToken * tokens + attention, attention);
    }
}

/// <summary>
/// A reader of a (compressed) context: after <c>[BOS]</c> and the <see cref="ReaderInput"/> it
/// scores a continuation, answers a question greedily, or recites the context.
/// </summary>
public sealed class ContextReader(Tokenizer tokenizer)
{
    private readonly int _bos = tokenizer.BosId ?? throw new ArgumentException($"tokenizer '{tokenizer.Name}' has no beginning-of-sequence token");

    // A reader may have more outputs than the tokenizer has tokens (a Z-token model's codes and
    // delimiters): it writes text, so scores and choices are over the text tokens only.
    private readonly int _text = tokenizer.VocabularySize;

    /// <summary>Σ −log2 p of <paramref name="target"/> after <c>[BOS] input lead</c> (the lead is read, not scored).</summary>
    public double ContinuationBits(ReaderInput input, ReadOnlySpan<int> lead, ReadOnlySpan<int> target)
    {
        if (target.IsEmpty)
            throw new ArgumentException("nothing to score", nameof(target));
        var (session, last) = Open(input, lead.Length + target.Length);
        if (!lead.IsEmpty)
            last = session.Prefill(lead).ToArray();
        int vocabulary = input.Model.Config.VocabSize;
        double bits = Sampler.SurprisalBits(last.AsSpan(0, _text), target[0]);
        if (target.Length > 1)
        {
            var logits = new float[(target.Length - 1) * vocabulary];   // [target − 1][vocabulary]: after each target token but the last
            session.Prefill(target[..^1], logits);
            for (int i = 1; i < target.Length; i++)
                bits += Sampler.SurprisalBits(logits.AsSpan((i - 1) * vocabulary, _text), target[i]);
        }
        return bits;
    }

    /// <summary>
    /// The greedy answer after <c>[BOS] input prompt</c>: at most <paramref name="maxTokens"/> tokens,
    /// ending at BOS/EOS or at the end of its first line or sentence (a period followed by a space),
    /// decoded and trimmed. A base model does not stop after an answer; it goes on with the sentence
    /// it copied, so the first sentence is its answer. Also returns the positions read and generated.
    /// </summary>
    public (string Answer, int Tokens) Answer(ReaderInput input, int[] prompt, int maxTokens = 16)
    {
        int length = 1 + input.Positions + prompt.Length;
        maxTokens = Math.Min(maxTokens, input.Model.Config.MaxSequenceLength - length);
        var (session, logits) = Open(input, prompt.Length + Math.Max(0, maxTokens));
        if (prompt.Length > 0)
            logits = session.Prefill(prompt).ToArray();
        var answer = new List<int>();
        while (answer.Count < maxTokens)
        {
            int next = Sampler.ArgMax(logits.AsSpan(0, _text));
            if (next == _bos || next == tokenizer.EosId)
                break;
            answer.Add(next);
            if (AnswerEnd(tokenizer.Decode([.. answer])) >= 0 || answer.Count == maxTokens)
                break;
            logits = session.Step(next).ToArray();
        }
        string text = tokenizer.Decode([.. answer]);
        int end = AnswerEnd(text);
        return ((end < 0 ? text : text[..end]).Trim(), length + answer.Count);
    }

    /// <summary>
    /// Greedily writes <paramref name="length"/> tokens after <c>[BOS] separator input separator</c>:
    /// a reader that copies recites the context it was given. The separator in front marks where
    /// the context starts, so that an induction head that matches the second separator copies from
    /// the context's first token (after the second separator alone, where the text starts is
    /// anyone's guess).
    /// </summary>
    public int[] Recite(ReaderInput input, int[] separator, int length)
    {
        if (separator.Length == 0)
            throw new ArgumentException("a recital needs a separator", nameof(separator));
        var (session, logits) = Open(input, 2 * separator.Length + length, before: separator);
        logits = session.Prefill(separator).ToArray();
        var output = new int[length];
        for (int i = 0; i < length; i++)
        {
            output[i] = Sampler.ArgMax(logits.AsSpan(0, _text));
            if (i + 1 < length)
                logits = session.Step(output[i]).ToArray();
        }
        return output;
    }

    /// <summary>Σ −log2 p of <paramref name="context"/> after BOS under <paramref name="model"/>: the information it finds in the context.</summary>
    public double ContextBits(LlamaModel model, int[] context) => ContinuationBits(ReaderInput.OfTokens(model, []), [], context);

    /// <summary>
    /// A session that has read <c>[BOS] before input</c>, with room for <paramref name="more"/>
    /// positions after them (<paramref name="before"/>'s included), and the logits after it.
    /// </summary>
    private (InferenceSession Session, float[] Logits) Open(ReaderInput input, int more, int[]? before = null)
    {
        int length = 1 + input.Positions + more;
        if (length > input.Model.Config.MaxSequenceLength)
            throw new ArgumentException($"{length} positions do not fit the model's {input.Model.Config.MaxSequenceLength}");
        var session = input.Model.CreateSession(length, input.Adapter);
        var logits = session.Prefill([_bos]);
        if (before is { Length: > 0 })
            logits = session.Prefill(before);
        if (input.Tokens is { Length: > 0 } tokens)
            logits = session.Prefill(tokens);
        else if (input.Embeddings is { Length: > 0 } rows)
            logits = session.PrefillEmbeddings(rows);
        return (session, logits.ToArray());
    }

    private static int AnswerEnd(string text)
    {
        int newline = text.IndexOf('\n'), period = text.IndexOf(". ", StringComparison.Ordinal);
        return newline < 0 ? period : period < 0 ? newline : Math.Min(newline, period);
    }
}
