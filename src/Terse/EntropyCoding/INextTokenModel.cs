namespace Terse.EntropyCoding;

/// <summary>
/// A language model as the entropy coder sees it: a source of next-token logits. The coder opens
/// one <see cref="INextTokenSession"/> per worker and resets it for every chunk (and whenever its
/// sliding context window moves), so chunks can be coded on several threads at once.
/// </summary>
/// <remarks>
/// Determinism contract, which lossless decoding depends on: for the same model identity, a
/// session from <see cref="CreateSession"/> that was reset and then given the same accepted tokens
/// returns bit-identical logits, whatever the thread, the number of threads, the number of sessions
/// alive, the machine's vector width, intrinsics or CPU vendor: a file written on one machine
/// decodes on any other (container version 3).
/// </remarks>
public interface INextTokenModel
{
    /// <summary>A short human-readable name (e.g. <c>stories260K</c>), stored in containers for error messages.</summary>
    string Name { get; }

    /// <summary>Number of logits <see cref="INextTokenSession.NextLogits"/> returns: the token ids it predicts are 0..VocabularySize-1.</summary>
    int VocabularySize { get; }

    /// <summary>
    /// How many tokens one session can accept between resets (the context window left after any
    /// start token the model feeds itself). Chunks are at most this long.
    /// </summary>
    int MaxSessionTokens { get; }

    /// <summary>
    /// Identifies the exact weights (for a neural model, SHA-256 of its weight file), at most 64
    /// bytes. Containers store it and refuse to decode with a model whose identity differs.
    /// </summary>
    ReadOnlySpan<byte> Identity { get; }

    /// <summary>Opens a session positioned at the start of a text. Sessions are used by one thread at a time.</summary>
    INextTokenSession CreateSession();

    /// <summary>
    /// A session with the logits container version 2 was written with: for a neural model, the
    /// engine's fast arithmetic, the same bits only on the kind of machine that wrote the file. Only
    /// for reading such files; a model whose one kind of session is already portable keeps this default.
    /// </summary>
    INextTokenSession CreateVersion2Session() => CreateSession();
}

/// <summary>One pass over a text: logits for the next token, then the token that actually came.</summary>
public interface INextTokenSession : IDisposable
{
    /// <summary>Forgets all accepted tokens: the session is as new.</summary>
    void Reset();

    /// <summary>
    /// Logits (unnormalised log-probabilities) for the token after those accepted so far. Valid until
    /// the next <see cref="Accept"/> or <see cref="Reset"/>.
    /// </summary>
    ReadOnlySpan<float> NextLogits();

    /// <summary>Appends the token that came next. At most <see cref="INextTokenModel.MaxSessionTokens"/> per reset.</summary>
    void Accept(int token);

    /// <summary>
    /// Appends several tokens, as one <see cref="Accept(int)"/> each would — with bit-identical
    /// logits afterwards (the coder refills a sliding context window with it). A model may do it
    /// faster in one batch.
    /// </summary>
    void Accept(ReadOnlySpan<int> tokens)
    {
        foreach (int token in tokens)
            Accept(token);
    }
}
