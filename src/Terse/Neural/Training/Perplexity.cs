namespace Terse.Neural.Training;

/// <summary>Cross-entropy of a text under a model.</summary>
/// <param name="Nats">Total −ln p over the predicted tokens.</param>
/// <param name="Tokens">Tokens predicted (every text token).</param>
/// <param name="Bytes">UTF-8 bytes of the text, when known (0 otherwise).</param>
public sealed record EvaluationResult(double Nats, long Tokens, long Bytes)
{
    public double NatsPerToken => Nats / Tokens;
    public double BitsPerToken => NatsPerToken / Math.Log(2);
    public double BitsPerByte => Bytes > 0 ? Nats / Math.Log(2) / Bytes : double.NaN;
}

public static class Perplexity
{
    /// <summary>
    /// Splits the text tokens into consecutive windows of <paramref name="window"/> − 1 tokens, each
    /// fed after BOS with a fresh context, and sums −ln p of every text token (the first of a window
    /// is predicted from BOS alone). Runs <paramref name="batch"/> windows per batched pass.
    /// </summary>
    public static EvaluationResult CrossEntropy(LlamaModel model, ReadOnlySpan<int> text, int bos, long bytes = 0,
        int? window = null, LoraAdapter? adapter = null, int batch = 8)
    {
        int length = window ?? model.Config.MaxSequenceLength;
        if (length < 2 || length > model.Config.MaxSequenceLength)
            throw new ArgumentOutOfRangeException(nameof(window), length, $"window must be in 2..{model.Config.MaxSequenceLength}");
        if (text.IsEmpty)
            throw new ArgumentException("no tokens to evaluate", nameof(text));
        int perWindow = length - 1;
        int windows = (text.Length + perWindow - 1) / perWindow;
        // Attention probabilities take batch·heads·window² floats per layer; keep them near 64 MB.
        batch = Math.Clamp(Math.Min(batch, (1 << 24) / (model.Config.Heads * length * length)), 1, windows);
        var pass = new BatchPass(model, batch, length, gradients: new Gradients([]), adapter: adapter);
        var inputs = new int[batch * length];
        var targets = new int[batch * length];
        double nats = 0;
        for (int first = 0; first < windows; first += batch)
        {
            for (int b = 0; b < batch; b++)
            {
                var row = inputs.AsSpan(b * length, length);
                var rowTargets = targets.AsSpan(b * length, length);
                row.Fill(bos);
                rowTargets.Fill(-1);
                int start = (first + b) * perWindow;
                if (start >= text.Length)
                    continue;
                var chunk = text.Slice(start, Math.Min(perWindow, text.Length - start));
                chunk.CopyTo(row[1..]);
                chunk.CopyTo(rowTargets);
            }
            pass.Forward(inputs);
            pass.Loss(targets);
            foreach (float loss in pass.RowLosses)
                nats += loss;
        }
        return new EvaluationResult(nats, text.Length, bytes);
    }
}
