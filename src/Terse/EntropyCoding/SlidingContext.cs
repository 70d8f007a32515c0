namespace Terse.EntropyCoding;

/// <summary>
/// The context policy within a chunk: the model holds at most <see cref="Window"/> of the chunk's
/// tokens; when one more must be appended to a full window, the session is reset and refilled
/// with the last <see cref="Carry"/> tokens (the newest included) — a sliding window that
/// moves by <c>Window − Carry</c> tokens at a time. Carry 0 is "reset when full".
/// </summary>
internal readonly record struct ContextPolicy(int Window, int Carry)
{
    /// <summary>Null when valid for a model that accepts <paramref name="maxWindow"/> tokens; otherwise what is wrong.</summary>
    public string? Problem(int maxWindow) =>
        Window < 1 || Window > maxWindow ? $"context window {Window} is outside 1..{maxWindow} (the model's window)"
        : Carry < 0 || Carry >= Window ? $"context carry {Carry} is outside 0..{Window - 1} (below the window of {Window})"
        : null;

    /// <summary>
    /// Model positions a chunk of <paramref name="tokens"/> tokens costs: every token but the last
    /// is fed once, and each slide feeds the carried tokens again. Without sliding it is
    /// <paramref name="tokens"/> − 1; the excess is the policy's extra work.
    /// </summary>
    public long PositionsFed(int tokens)
    {
        long fed = 0;
        int held = 0;
        for (int i = 0; i + 1 < tokens; i++)
        {
            if (held < Window)
            {
                held++;
                fed++;
            }
            else
            {
                held = Math.Min(Carry, i + 1);
                fed += held;
            }
        }
        return fed;
    }
}

/// <summary>
/// A model session driven by a <see cref="ContextPolicy"/>. The encoder, the decoder and the
/// surprisal report all go through it, so they see the same contexts. A refill feeds the carried
/// tokens at once (<see cref="INextTokenSession.Accept(ReadOnlySpan{int})"/>), which models must
/// make bit-identical to feeding them one by one.
/// </summary>
internal sealed class SlidingContext(INextTokenSession session, ContextPolicy policy)
{
    private int held;

    /// <summary>Empties the context for a new chunk.</summary>
    public void Start()
    {
        session.Reset();
        held = 0;
    }

    public ReadOnlySpan<float> NextLogits() => session.NextLogits();

    /// <summary>Appends the last token of <paramref name="history"/> (the chunk's tokens so far, this one included).</summary>
    public void Accept(ReadOnlySpan<int> history)
    {
        if (held < policy.Window)
        {
            session.Accept(history[^1]);
            held++;
            return;
        }
        session.Reset();
        held = Math.Min(policy.Carry, history.Length);
        if (held > 0)
            session.Accept(history[^held..]);
    }
}
