namespace Terse.EntropyCoding;

/// <summary>
/// An escape in the token stream: before the token at <see cref="Position"/> (counted within the
/// chunk; equal to the chunk's token count for bytes after its last token), the bytes
/// <see cref="Raw"/> follow, possibly none. Each escape also ends a token segment, so the tokens on
/// either side of it are decoded separately by the tokenizer.
/// </summary>
internal readonly record struct Escape(int Position, byte[] Raw);

/// <summary>
/// Codes one chunk: its tokens with the model's distributions (through a <see cref="SlidingContext"/>)
/// and, when the chunk has escapes, the escapes between them. With escapes, every token table has
/// one more symbol, the escape, whose probability adapts to how often escapes occurred in the chunk
/// (a Krichevsky–Trofimov estimate: (2e + 1) / (2n + 2)); after the last token, a two-symbol
/// end/escape choice with the same probability; the raw bytes of an escape follow it, coded with an
/// adaptive byte model. Without escapes only the tokens are coded. With a <paramref name="mixer"/>
/// (container version 4) the token tables are its mixture of the model with the chunk's match and
/// counts, and it learns from every token, never from an escape.
/// </summary>
internal sealed class ChunkCoder(int vocabularySize, int totalBits, TokenMixer? mixer = null)
{
    private readonly FrequencyTable plainTable = new(vocabularySize, totalBits);
    private FrequencyTable? escapeTable;
    private FrequencyTable table = null!;
    private readonly RawByteModel rawModel = new();
    private bool escapes;
    private int escapeCount, opportunities;

    /// <summary>
    /// Codes the chunk's tokens and, unless <paramref name="chunkEscapes"/> is null, its escapes
    /// (possibly none). Returns null as soon as the stream is sure to exceed
    /// <paramref name="byteBudget"/> bytes: the caller then stores the chunk instead.
    /// </summary>
    public byte[]? Encode(SlidingContext context, ReadOnlySpan<int> tokens, IReadOnlyList<Escape>? chunkEscapes, long byteBudget = long.MaxValue)
    {
        Start(context, chunkEscapes is not null);
        chunkEscapes ??= [];
        var encoder = new RangeEncoder(tokens.Length);
        int next = 0;
        for (int i = 0; i < tokens.Length; i++)
        {
            if (encoder.MinimumLength > byteBudget)
                return null;
            var logits = context.NextLogits();
            for (; next < chunkEscapes.Count && chunkEscapes[next].Position == i; next++)
            {
                SetTable(logits);
                table.Encode(encoder, table.Count - 1);
                Observe(escaped: true);
                rawModel.EncodeRun(encoder, chunkEscapes[next].Raw);
            }
            SetTable(logits);
            table.Encode(encoder, tokens[i]);
            Observed(tokens[i]);
            // The last token of a chunk predicts nothing, so it is never fed to the model.
            if (i + 1 < tokens.Length)
                context.Accept(tokens[..(i + 1)]);
        }
        if (escapes)
        {
            for (; next < chunkEscapes.Count && chunkEscapes[next].Position == tokens.Length; next++)
            {
                EncodeEndChoice(encoder, escape: true);
                Observe(escaped: true);
                rawModel.EncodeRun(encoder, chunkEscapes[next].Raw);
            }
            EncodeEndChoice(encoder, escape: false);
        }
        if (next != chunkEscapes.Count)
            throw new InvalidOperationException("escape positions must be increasing and within the chunk");
        var stream = encoder.Finish();
        return stream.Length > byteBudget ? null : stream;
    }

    /// <summary>
    /// Decodes <paramref name="tokens"/>.Length tokens and the escapes among them. Raw bytes are
    /// limited to <paramref name="rawByteLimit"/> in all, so a corrupt stream cannot produce more
    /// than the container's declared length.
    /// </summary>
    public List<Escape> Decode(SlidingContext context, ReadOnlySpan<byte> stream, Span<int> tokens, bool withEscapes, int rawByteLimit)
    {
        Start(context, withEscapes);
        var found = new List<Escape>();
        var decoder = new RangeDecoder(stream);
        int vocabulary = plainTable.Count;
        int rawBytes = 0;
        for (int i = 0; i < tokens.Length; i++)
        {
            var logits = context.NextLogits();
            while (true)
            {
                SetTable(logits);
                int symbol = table.Decode(ref decoder);
                if (symbol < vocabulary)
                {
                    tokens[i] = symbol;
                    Observed(symbol);
                    break;
                }
                Observe(escaped: true);
                found.Add(new Escape(i, DecodeRun(ref decoder, ref rawBytes, rawByteLimit)));
            }
            if (i + 1 < tokens.Length)
                context.Accept(tokens[..(i + 1)]);
        }
        if (escapes)
        {
            while (DecodeEndChoice(ref decoder))
            {
                Observe(escaped: true);
                found.Add(new Escape(tokens.Length, DecodeRun(ref decoder, ref rawBytes, rawByteLimit)));
            }
        }
        decoder.CheckNotBeyondEnd();
        if (decoder.Position < stream.Length)
            throw new InvalidDataException($"{stream.Length - decoder.Position} coded bytes left over after the chunk's {tokens.Length} tokens");
        return found;
    }

    private byte[] DecodeRun(ref RangeDecoder decoder, ref int rawBytes, int rawByteLimit)
    {
        var run = rawModel.DecodeRun(ref decoder, rawByteLimit - rawBytes);
        rawBytes += run.Length;
        return run;
    }

    private void Start(SlidingContext context, bool withEscapes)
    {
        context.Start();
        escapes = withEscapes;
        table = withEscapes ? escapeTable ??= new FrequencyTable(plainTable.Count + 1, totalBits) : plainTable;
        escapeCount = 0;
        opportunities = 0;
        rawModel.Reset();
        mixer?.Start();
    }

    /// <summary>After a token (not an escape) is coded with <see cref="table"/>.</summary>
    private void Observed(int token)
    {
        if (escapes)
            Observe(escaped: false);
        mixer?.Update(table, token);
    }

    private void Observe(bool escaped)
    {
        opportunities++;
        if (escaped)
            escapeCount++;
    }

    private int EscapeFrequency()
    {
        long total = table.Total;
        long frequency = total * (2L * escapeCount + 1) / (2L * opportunities + 2);
        return (int)Math.Clamp(frequency, 1, total / 2);
    }

    private void SetTable(ReadOnlySpan<float> logits)
    {
        int escapeFrequency = escapes ? EscapeFrequency() : 0;
        if (mixer is null)
            table.SetFromLogits(logits, escapeFrequency);
        else
            mixer.SetTable(table, logits, escapeFrequency);
    }

    // After the last token: "end" owns [0, Total − escape), "escape" the rest; zeros past the end decode as "end".
    private void EncodeEndChoice(RangeEncoder encoder, bool escape)
    {
        uint total = (uint)table.Total, escapeFrequency = (uint)EscapeFrequency();
        if (escape) encoder.Encode(total - escapeFrequency, escapeFrequency, total);
        else encoder.Encode(0, total - escapeFrequency, total);
    }

    private bool DecodeEndChoice(ref RangeDecoder decoder)
    {
        uint total = (uint)table.Total, escapeFrequency = (uint)EscapeFrequency();
        bool escape = decoder.GetTarget(total) >= total - escapeFrequency;
        if (escape) decoder.Consume(total - escapeFrequency, escapeFrequency);
        else decoder.Consume(0, total - escapeFrequency);
        decoder.CheckNotBeyondEnd();
        return escape;
    }
}

/// <summary>
/// Adaptive order-0 model of raw bytes (<see cref="AdaptiveSymbolModel"/>): symbol 0 ends a run,
/// symbol b + 1 is byte b.
/// </summary>
internal sealed class RawByteModel
{
    private readonly AdaptiveSymbolModel symbols = new(257);

    public void Reset() => symbols.Reset();

    public void EncodeRun(RangeEncoder encoder, ReadOnlySpan<byte> run)
    {
        foreach (byte b in run)
            symbols.Encode(encoder, b + 1);
        symbols.Encode(encoder, 0);
    }

    public byte[] DecodeRun(ref RangeDecoder decoder, int limit)
    {
        var run = new List<byte>();
        while (true)
        {
            int symbol = symbols.Decode(ref decoder);
            if (symbol == 0)
                return [.. run];
            if (run.Count >= limit)
                throw new InvalidDataException("corrupt entropy-coded stream: raw bytes exceed the declared length");
            run.Add((byte)(symbol - 1));
        }
    }
}
