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
    /// is predicted from BOS alone). Runs <paramref name="batch"/> windows per batched pass. The
    /// window (default: the model's length) never exceeds the text: a longer one would hold only
    /// padding, which a causal model does not read, so the result is the same for less memory.
    /// </summary>
    public static EvaluationResult CrossEntropy(LlamaModel model, ReadOnlySpan<int> text, int bos, long bytes = 0,
        int? window = null, LoraAdapter? adapter = null, int batch = 8)
    {
        int requested = window ?? model.Config.MaxSequenceLength;
        if (requested < 2 || requested > model.Config.MaxSequenceLength)
            throw new ArgumentOutOfRangeException(nameof(window), requested, $"the window must be in 2..{model.Config.MaxSequenceLength} tokens, got {requested}");
        if (text.IsEmpty)
            throw new ArgumentException("no tokens to evaluate", nameof(text));
        int length = (int)Math.Min(requested, text.Length + 1L);
        int perWindow = length - 1;
        int windows = (text.Length + perWindow - 1) / perWindow;
        // Attention probabilities take batch·heads·window² floats per layer; keep them near 64 MB.
        long square = (long)model.Config.Heads * length * length;
        long attentionBytes = square * sizeof(float) * model.Config.Layers;
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (square > int.MaxValue || attentionBytes > available / 2)
            throw new ArgumentException($"a window of {length:N0} tokens needs {attentionBytes / (1 << 20):N0} MiB for its attention scores " +
                $"({model.Config.Layers} layers × {model.Config.Heads} heads × window²), more than half of the {available / (1 << 20):N0} MiB available: choose a smaller window");
        batch = (int)Math.Clamp(Math.Min(batch, (1L << 24) / square), 1, windows);
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
