using Terse.Gmsa;
using Terse.MetaTokens;
using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Tokenization;
using Terse.ZTokens;

namespace Terse.Evaluation;

/// <summary>
/// What the reader is fed after BOS in place of a context: ids of its model's vocabulary, or input
/// embeddings (soft tokens), read by <see cref="Model"/> with <see cref="Adapter"/> (null: the
/// frozen model).
/// </summary>
/// <param name="Tokens">Token ids, or null when <paramref name="Embeddings"/> holds the input.</param>
/// <param name="Embeddings">[positions][dim] input embeddings, row-major.</param>
public sealed record ReaderInput(LlamaModel Model, LoraAdapter? Adapter, int[]? Tokens, float[]? Embeddings)
{
    public int Positions => Tokens?.Length ?? Embeddings!.Length / Model.Config.Dim;

    public static ReaderInput OfTokens(LlamaModel model, int[] tokens) => new(model, null, tokens, null);
}

/// <summary>A context as a method compressed it.</summary>
/// <param name="CodeLength">Length of the compressed form, which the achieved rate counts: tokens kept, soft tokens, Z-tokens, or the meta-token sequence with its dictionary.</param>
/// <param name="Input">What the reader reads in place of the context.</param>
/// <param name="Reconstruct">The method's own decoder, giving the context back from the compressed form; null when the method has none and the reader recites the context from <paramref name="Input"/>.</param>
public sealed record CompressedContext(int CodeLength, ReaderInput Input, Func<int[]>? Reconstruct = null);

/// <summary>
/// A way to shorten a context for a reader. Compression is question-agnostic: the method sees the
/// context only (as GMSA and LLMLingua-2 do, unlike LongLLMLingua).
/// </summary>
public interface IContextMethod
{
    /// <summary>The method's name in tables and JSON, e.g. <c>truncate-last</c>.</summary>
    string Name { get; }

    /// <summary>False for methods with one natural rate (no context, full text, lossless and learned-length codes).</summary>
    bool TakesRate { get; }

    /// <summary>Whether the method can compress at <paramref name="rate"/> (GMSA merges whole groups of at most one segment).</summary>
    bool Accepts(double rate) => true;

    /// <summary>Compresses <paramref name="context"/> at a target rate (context tokens per unit of code; ignored without <see cref="TakesRate"/>).</summary>
    CompressedContext Compress(int[] context, double rate);
}

/// <summary>A method whose compressed form is a selection of the context's own tokens, read by the base model.</summary>
public abstract class TokenSelection(LlamaModel reader) : IContextMethod
{
    /// <summary>The model that reads the selection.</summary>
    protected LlamaModel Reader => reader;

    public abstract string Name { get; }
    public abstract bool TakesRate { get; }

    /// <summary>The ids the reader sees in place of <paramref name="context"/>.</summary>
    public abstract int[] Select(int[] context, double rate);

    public CompressedContext Compress(int[] context, double rate)
    {
        var kept = Select(context, rate);
        return new CompressedContext(kept.Length, ReaderInput.OfTokens(reader, kept));
    }
}

/// <summary>The reader sees nothing of the context: the floor every method must beat.</summary>
public sealed class NoContext(LlamaModel reader) : TokenSelection(reader)
{
    public override string Name => "no-context";
    public override bool TakesRate => false;
    public override int[] Select(int[] context, double rate) => [];
}

/// <summary>The reader sees the whole context: the ceiling of a lossy method at its rate.</summary>
public sealed class FullText(LlamaModel reader) : TokenSelection(reader)
{
    public override string Name => "full-text";
    public override bool TakesRate => false;
    public override int[] Select(int[] context, double rate) => context;
}

/// <summary>Keeps the first (or the last) ⌈n / rate⌉ tokens.</summary>
public sealed class Truncation(LlamaModel reader, bool keepLast) : TokenSelection(reader)
{
    public override string Name => keepLast ? "truncate-last" : "truncate-first";
    public override bool TakesRate => true;

    public override int[] Select(int[] context, double rate)
    {
        int keep = KeptCount(context.Length, rate);
        return keepLast ? context[^keep..] : context[..keep];
    }

    /// <summary>Tokens a method keeps of <paramref name="length"/> at <paramref name="rate"/>: ⌈length / rate⌉.</summary>
    public static int KeptCount(int length, double rate)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rate, 1.0);
        return Math.Min(length, (int)Math.Ceiling(length / rate - 1e-9));
    }
}

/// <summary>
/// Meta-tokens (Harvill et al. 2025), lossless: repeated runs of the context become new ids with a
/// dictionary in front (<see cref="MetaTokenCompressor"/>, the in-context layout of
/// <see cref="InContextFormat"/>). The base model was never taught those ids, so this untuned reader
/// reads a meta-token as the mean of the embeddings of the tokens it stands for, and the dictionary's
/// delimiters as line breaks; a reader fine-tuned on compressed input is the seed's own setting.
/// </summary>
public sealed class MetaTokenReading(LlamaModel reader, Tokenizer tokenizer) : IContextMethod
{
    private readonly int _lineBreak = Pretraining.CopyTest.SeparatorIds(tokenizer, "\n") is [var id] ? id
        : throw new ArgumentException($"tokenizer '{tokenizer.Name}' has no single token for a line break");

    public string Name => "metatokens-untuned";
    public bool TakesRate => false;

    public CompressedContext Compress(int[] context, double rate)
    {
        int vocabulary = reader.Config.VocabSize, d = reader.Config.Dim;
        var sequence = MetaTokenCompressor.Compress(context, vocabulary);
        var format = InContextFormat.ForVocabulary(vocabulary);
        var ids = format.Encode(sequence);
        var embedding = reader.Parameters[HuggingFaceLlamaNames.Embedding].Value.Span;
        // Meta-token k stands for Expand(k); its row is the mean of those tokens' rows.
        var meta = new float[sequence.Definitions.Count][];
        for (int k = 0; k < meta.Length; k++)
        {
            var expansion = Expand(sequence, vocabulary, k);
            meta[k] = new float[d];
            foreach (int id in expansion)
                System.Numerics.Tensors.TensorPrimitives.Add(meta[k], embedding.Slice(id * d, d), meta[k]);
            System.Numerics.Tensors.TensorPrimitives.Divide(meta[k], expansion.Count, meta[k]);
        }
        var rows = new float[ids.Length * d];   // [positions][dim]
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            var row = id >= format.FirstMetaTokenId ? meta[id - format.FirstMetaTokenId]
                : embedding.Slice((id == format.DictionaryStartId || id == format.DictionaryEndId ? _lineBreak : id) * d, d);
            row.CopyTo(rows.AsSpan(i * d, d));
        }
        return new CompressedContext(ids.Length, new ReaderInput(reader, null, null, rows), () => sequence.Expand());
    }

    private static List<int> Expand(MetaTokenSequence sequence, int vocabulary, int meta)
    {
        var output = new List<int>();
        foreach (int id in sequence.Definitions[meta])
        {
            if (id < vocabulary)
                output.Add(id);
            else
                output.AddRange(Expand(sequence, vocabulary, id - vocabulary));
        }
        return output;
    }
}

/// <summary>
/// GMSA (Tang et al. 2025) or the memory-token baseline (ICAE-style), from a trained compressor
/// folder: the context is cut into the compressor's segments, each becomes soft tokens, and the
/// decoder reads them (with its KEFT adapter when it has one). Reconstruction is the compressor's
/// own: each segment greedily from <c>[BOS] soft [AE]</c>.
/// </summary>
public sealed class SoftTokenMethod(GmsaModel model, string? name = null) : IContextMethod
{
    public string Name { get; } = name ?? (model.Settings.Merge == MergeMode.Memory ? "memory-tokens" : "gmsa") + (model.Keft is null ? "" : "+keft");
    public bool TakesRate => true;
    public GmsaModel Model => model;

    public bool Accepts(double rate) => rate == Math.Floor(rate) && model.Settings.Accepts((int)rate);

    public CompressedContext Compress(int[] context, double rate)
    {
        if (!Accepts(rate))
            throw new ArgumentOutOfRangeException(nameof(rate), rate, $"{Name} compresses at whole rates up to its segment of {model.Settings.SegmentLength}");
        int segment = model.Settings.SegmentLength;
        var parts = new List<(SoftContext Soft, int Length)>();
        for (int start = 0; start < context.Length; start += segment)
        {
            int length = Math.Min(segment, context.Length - start);
            parts.Add((GmsaInference.Compress(model, context.AsSpan(start, length), (int)rate), length));
        }
        var rows = parts.SelectMany(p => p.Soft.Values).ToArray();   // [soft tokens][dim]
        return new CompressedContext(parts.Sum(p => p.Soft.Count), new ReaderInput(model.Decoder, model.Keft, null, rows),
            () => [.. parts.SelectMany(p => GmsaInference.Reconstruct(model, p.Soft.Values, p.Length))]);
    }
}

/// <summary>
/// Z-tokens (Li et al. 2026) read through their decompressor: each segment is coded greedily, the
/// code is decoded greedily back to text, and the base model reads that text. The rate counts
/// Z-tokens (learned lengths: one natural rate); the reader's cost is that of the decoded text.
/// </summary>
public sealed class ZTokenDecoding(ZTokenCodec codec, LlamaModel reader) : IContextMethod
{
    public string Name => "ztokens-decoded";
    public bool TakesRate => false;

    public CompressedContext Compress(int[] context, double rate)
    {
        var codes = ZTokenReading.CodeSegments(codec, context);
        int[] text = [.. codes.SelectMany(c => codec.Decode(c.Code, c.Length, Corrections.None))];
        return new CompressedContext(codes.Sum(c => c.Code.Length), ReaderInput.OfTokens(reader, text), () => text);
    }
}

/// <summary>
/// Z-tokens read as they are, with no text in between: the context becomes
/// <c>Begin z… End Begin z… End …</c> (one group per segment) in the Z-token model's extended
/// vocabulary, read by its frozen base (untuned) or by a reader adapter fine-tuned to read codes
/// (<see cref="TunedReader"/>). The rate counts Z-tokens, not delimiters; reconstruction is the
/// decompressor's.
/// </summary>
public sealed class ZTokenReading(ZTokenCodec codec) : IContextMethod
{
    public string Name => "ztokens-untuned";
    public bool TakesRate => false;

    public CompressedContext Compress(int[] context, double rate)
    {
        var codes = CodeSegments(codec, context);
        var vocabulary = codec.Model.Vocabulary;
        int[] ids = [.. codes.SelectMany(c => (int[])[vocabulary.Begin, .. c.Code, vocabulary.End])];
        return new CompressedContext(codes.Sum(c => c.Code.Length), ReaderInput.OfTokens(codec.Model.Model, ids),
            () => [.. codes.SelectMany(c => codec.Decode(c.Code, c.Length, Corrections.None))]);
    }

    /// <summary>The greedy code of each segment of the Z-token model's length, with the segment's length.</summary>
    internal static List<(int[] Code, int Length)> CodeSegments(ZTokenCodec codec, int[] context)
    {
        int segment = codec.Model.Shape.SegmentLength;
        var codes = new List<(int[], int)>();
        for (int start = 0; start < context.Length; start += segment)
        {
            var piece = context.AsSpan(start, Math.Min(segment, context.Length - start));
            codes.Add((codec.Encode(piece), piece.Length));
        }
        return codes;
    }
}

/// <summary>
/// A method read by a reader adapter fine-tuned on its compressed contexts
/// (<see cref="ReaderTuning"/>): the meta-token seed's own setting, and the way a reader learns to
/// read Z-tokens. The compression is the inner method's.
/// </summary>
public sealed class TunedReader(IContextMethod inner, LoraAdapter adapter, string name) : IContextMethod
{
    public string Name => name;
    public bool TakesRate => inner.TakesRate;
    public IContextMethod Inner => inner;
    public LoraAdapter Adapter => adapter;

    public bool Accepts(double rate) => inner.Accepts(rate);

    public CompressedContext Compress(int[] context, double rate)
    {
        var compressed = inner.Compress(context, rate);
        return compressed with { Input = compressed.Input with { Adapter = adapter } };
    }
}

/// <summary>
/// Surprisal pruning in the manner of Selective Context (Li et al. 2023) and LLMLingua (Jiang et
/// al. 2023): the tokens the base model finds most predictable are dropped until the target rate.
/// <list type="bullet">
/// <item>A <b>budget controller</b> shares the kept-token budget out over segments of
/// <see cref="SegmentTokens"/> tokens in proportion to their surprisal under the full context
/// (dense segments keep more); what a segment cannot use passes to the next, so the whole
/// context hits the rate exactly.</item>
/// <item>Within a segment, tokens are chosen by their surprisal <b>given the compressed prefix</b>
/// (LLMLingua's iterative token-level compression): what the prefix already implies is dropped.</item>
/// <item>With <see cref="ProtectSpans"/>, tokens of numbers, capitalised words (names) and code
/// symbols are kept first, while the segment's budget allows.</item>
/// </list>
/// </summary>
public sealed class SurprisalPruning(LlamaModel model, Tokenizer tokenizer, bool protectSpans, int segmentTokens = 32) : TokenSelection(model)
{
    private readonly int _bos = tokenizer.BosId ?? throw new ArgumentException($"tokenizer '{tokenizer.Name}' has no beginning-of-sequence token");

    public override string Name => ProtectSpans ? "prune-protect" : "prune";
    public override bool TakesRate => true;
    public bool ProtectSpans => protectSpans;
    public int SegmentTokens => segmentTokens;

    public override int[] Select(int[] context, double rate)
    {
        int n = context.Length, budget = Truncation.KeptCount(n, rate);
        if (budget == n)
            return context;
        if (n + 1 > Reader.Config.MaxSequenceLength)
            throw new ArgumentException($"a context of {n} tokens does not fit the model's {Reader.Config.MaxSequenceLength} positions");
        int vocabulary = Reader.Config.VocabSize;
        var session = Reader.CreateSession(n + 1);
        // Coarse pass: surprisal of every token under the full context, for the budget controller.
        var logits = new float[(n + 1) * vocabulary];   // [n + 1][vocabulary]: after BOS, after each token
        session.Prefill([_bos, .. context], logits);
        var fullSurprisal = new double[n];
        for (int i = 0; i < n; i++)
            fullSurprisal[i] = Sampler.SurprisalBits(logits.AsSpan(i * vocabulary, vocabulary), context[i]);
        var protectedTokens = protectSpans ? Protected(context) : new bool[n];

        var kept = new List<int>(budget);
        session.Reset();
        var last = session.Prefill([_bos]).ToArray();   // logits after BOS and the kept prefix
        double surprisalLeft = fullSurprisal.Sum();
        int budgetLeft = budget;
        var segmentLogits = new float[segmentTokens * vocabulary];
        var conditional = new double[segmentTokens];
        for (int start = 0; start < n; start += segmentTokens)
        {
            int length = Math.Min(segmentTokens, n - start);
            double segmentSurprisal = fullSurprisal.AsSpan(start, length).ToArray().Sum();
            int share = start + length == n ? budgetLeft
                : (int)Math.Round(budgetLeft * (surprisalLeft > 0 ? segmentSurprisal / surprisalLeft : (double)length / (n - start)));
            // Never so few that the segments after this one could not take the rest, never more than it has.
            int tokensAfter = n - start - length;
            share = Math.Clamp(share, Math.Max(0, budgetLeft - tokensAfter), Math.Min(length, budgetLeft));
            surprisalLeft -= segmentSurprisal;
            if (share == 0)
                continue;
            // Fine pass: surprisal of the segment's tokens after the compressed prefix.
            int position = session.Position;
            session.Prefill(context.AsSpan(start, length), segmentLogits);
            for (int i = 0; i < length; i++)
                conditional[i] = Sampler.SurprisalBits(i == 0 ? last : segmentLogits.AsSpan((i - 1) * vocabulary, vocabulary), context[start + i]);
            var chosen = Enumerable.Range(0, length)
                .OrderByDescending(i => protectedTokens[start + i])
                .ThenByDescending(i => conditional[i])
                .ThenBy(i => i)
                .Take(share)
                .Order()
                .Select(i => context[start + i])
                .ToArray();
            session.Rewind(position);
            last = session.Prefill(chosen).ToArray();
            kept.AddRange(chosen);
            budgetLeft -= chosen.Length;
        }
        return [.. kept];
    }

    /// <summary>
    /// Tokens inside a protected span: a word with a digit or a capital letter (numbers, names,
    /// identifiers), or a run of code symbols. Words are found in the decoded text of each token,
    /// so a word split over several tokens protects them all.
    /// </summary>
    private bool[] Protected(int[] context)
    {
        var pieces = context.Select(id => tokenizer.Decode([id])).ToArray();
        var text = string.Concat(pieces);
        var owner = new int[text.Length];   // character → the token it came from
        for (int t = 0, at = 0; t < pieces.Length; at += pieces[t].Length, t++)
            owner.AsSpan(at, pieces[t].Length).Fill(t);
        var result = new bool[context.Length];
        for (int i = 0; i < text.Length;)
        {
            int end = i;
            if (char.IsLetterOrDigit(text[i]))
            {
                while (end < text.Length && char.IsLetterOrDigit(text[end]))
                    end++;
                bool keep = false;
                for (int c = i; c < end; c++)
                    keep |= char.IsDigit(text[c]) || char.IsUpper(text[c]);
                if (keep)
                    for (int c = i; c < end; c++)
                        result[owner[c]] = true;
            }
            else
            {
                end = i + 1;
                if ("(){}[]<>=_;#$%&*+/\\|@^~`".Contains(text[i]))
                    result[owner[i]] = true;
            }
            i = end;
        }
        return result;
    }
}
