using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Neural.Training;

namespace Terse.Gmsa;

/// <summary>
/// A compressed context: <see cref="Count"/> soft tokens of width <see cref="Dim"/> (row-major in
/// <see cref="Values"/>) standing for <see cref="SourceTokens"/> tokens at rate <see cref="Rate"/>,
/// segment by segment. Lossy: the decoder reads it in place of the text.
/// </summary>
public sealed record SoftContext(float[] Values, int Count, int Dim, int Rate, int SourceTokens, int SegmentLength)
{
    public ReadOnlySpan<float> Token(int i) => Values.AsSpan(i * Dim, Dim);
}

/// <summary>Running a trained compressor: compress text, continue from soft tokens, reconstruct.</summary>
public static class GmsaInference
{
    /// <summary>
    /// Soft tokens of <paramref name="tokens"/>: cut into segments of the compressor's segment
    /// length (the last may be shorter), each compressed at <paramref name="rate"/>.
    /// </summary>
    public static SoftContext Compress(GmsaModel model, ReadOnlySpan<int> tokens, int rate)
    {
        if (tokens.IsEmpty)
            throw new ArgumentException("nothing to compress", nameof(tokens));
        int segment = model.Settings.SegmentLength, d = model.Decoder.Config.Dim;
        if (rate < 1 || rate > segment)
            throw new ArgumentOutOfRangeException(nameof(rate), rate, $"rate must be in 1..{segment}");
        if (model.Settings.Merge == MergeMode.Memory && GroupMerging.GroupCount(segment, rate) > model.Memory!.Shape[0])
            throw new ArgumentOutOfRangeException(nameof(rate), rate, $"this compressor has {model.Memory.Shape[0]} memory tokens; rate {rate} needs more");
        var segments = new List<int[]>();
        for (int start = 0; start < tokens.Length; start += segment)
            segments.Add(tokens.Slice(start, Math.Min(segment, tokens.Length - start)).ToArray());
        var pass = new GmsaPass(model, segments.Count, GroupMerging.GroupCount(segment, rate), new Gradients([]));
        pass.Encode(segments, Enumerable.Repeat(rate, segments.Count).ToArray());
        var values = new List<float>();
        int count = 0;
        for (int b = 0; b < segments.Count; b++)
        {
            values.AddRange(pass.Soft(b).ToArray());
            count += pass.SoftCount(b);
        }
        return new SoftContext(values.ToArray(), count, d, rate, tokens.Length, segment);
    }

    /// <summary>
    /// Continues from <c>[BOS] soft tokens prompt…</c> with the decoder (and its KEFT adapter when
    /// the compressor has one); stops after <paramref name="maxTokens"/> or at BOS/EOS.
    /// </summary>
    public static List<int> Generate(GmsaModel model, SoftContext context, ReadOnlySpan<int> prompt, int maxTokens, Sampler sampler)
    {
        var c = model.Decoder.Config;
        CheckFits(model, context);
        int capacity = Math.Min(c.MaxSequenceLength, 1 + context.Count + prompt.Length + maxTokens);
        if (1 + context.Count + prompt.Length > c.MaxSequenceLength)
            throw new ArgumentException($"{context.Count} soft tokens and {prompt.Length} prompt tokens exceed the model's {c.MaxSequenceLength} positions");
        var session = model.Decoder.CreateSession(capacity, model.Keft);
        var logits = Prefix(model, session, context.Values, marker: false);
        if (!prompt.IsEmpty)
            logits = session.Prefill(prompt);
        var output = new List<int>();
        while (output.Count < maxTokens && session.Position < capacity)
        {
            int next = sampler.Sample(logits);
            if (next == model.Bos || next == 2)
                break;
            output.Add(next);
            if (session.Position == capacity)
                break;
            logits = session.Step(next);
        }
        return output;
    }

    /// <summary>Greedy reconstruction of <paramref name="length"/> tokens from one segment's soft tokens (<c>[BOS] soft [AE]</c>), frozen decoder (or its autoencoder adapter).</summary>
    public static int[] Reconstruct(GmsaModel model, ReadOnlySpan<float> soft, int length)
    {
        int count = soft.Length / model.Decoder.Config.Dim;
        var session = model.Decoder.CreateSession(2 + count + length, model.ReconstructionAdapter);
        var logits = Prefix(model, session, soft, marker: true);
        var output = new int[length];
        for (int i = 0; i < length; i++)
        {
            output[i] = Sampler.ArgMax(logits);
            if (i + 1 < length)
                logits = session.Step(output[i]);
        }
        return output;
    }

    private static ReadOnlySpan<float> Prefix(GmsaModel model, InferenceSession session, ReadOnlySpan<float> soft, bool marker)
    {
        int d = model.Decoder.Config.Dim;
        var rows = new float[(1 + soft.Length / d + (marker ? 1 : 0)) * d];
        model.Decoder.Parameters[HuggingFaceLlamaNames.Embedding].Value.Span.Slice(model.Bos * d, d).CopyTo(rows);
        soft.CopyTo(rows.AsSpan(d));
        if (marker)
            model.Marker.Value.Span.CopyTo(rows.AsSpan(rows.Length - d));
        return session.PrefillEmbeddings(rows);
    }

    private static void CheckFits(GmsaModel model, SoftContext context)
    {
        if (context.Dim != model.Decoder.Config.Dim)
            throw new ArgumentException($"soft tokens of width {context.Dim} do not fit a model of width {model.Decoder.Config.Dim}");
    }
}
