namespace Terse.MetaTokens;

/// <summary>
/// The token sequence a model reads (stable format, see docs/formats.md, "Meta-tokens"):
/// <code>
///   START  m₀ d₀…  m₁ d₁…  …  m₍ₖ₋₁₎ d₍ₖ₋₁₎…  END  body…
/// </code>
/// Entry k is the meta-token id <c>FirstMetaTokenId + k</c> followed by its definition (at least
/// two ids: base tokens or earlier meta-tokens). Entries need no lengths: the next entry starts
/// exactly where the id <c>FirstMetaTokenId + k + 1</c> (or END) appears, and a definition can never
/// contain it because it may refer only to earlier meta-tokens. A sequence without a dictionary is
/// written as its body alone, so compressing never costs the two delimiters for nothing.
/// </summary>
/// <param name="BaseVocabularySize">Ids below this are ordinary tokens.</param>
/// <param name="DictionaryStartId">Opens the dictionary: a special token of the base vocabulary, or an id at or above it.</param>
/// <param name="DictionaryEndId">Closes the dictionary; the body follows.</param>
/// <param name="FirstMetaTokenId">Id of meta-token 0; meta-token k is this + k. At least the base vocabulary size.</param>
public sealed record InContextFormat(int BaseVocabularySize, int DictionaryStartId, int DictionaryEndId, int FirstMetaTokenId)
{
    /// <summary>The default layout: START = V, END = V + 1, meta-tokens from V + 2 (V = base vocabulary size).</summary>
    public static InContextFormat ForVocabulary(int baseVocabularySize) =>
        new(baseVocabularySize, baseVocabularySize, baseVocabularySize + 1, baseVocabularySize + 2);

    /// <summary>Largest expansion a decoder accepts unless told otherwise (2^28 tokens, 1 GiB of ids).</summary>
    public const long DefaultMaxOutputTokens = 1L << 28;

    private void Validate()
    {
        if (BaseVocabularySize <= 0)
            throw new ArgumentException($"base vocabulary size {BaseVocabularySize} must be positive");
        if (DictionaryStartId < 0 || DictionaryEndId < 0 || DictionaryStartId == DictionaryEndId)
            throw new ArgumentException($"the dictionary delimiters must be two different non-negative ids (got {DictionaryStartId}, {DictionaryEndId})");
        if (FirstMetaTokenId < BaseVocabularySize)
            throw new ArgumentException($"meta-token ids must start at or above the base vocabulary size {BaseVocabularySize} (got {FirstMetaTokenId})");
        if (DictionaryStartId >= FirstMetaTokenId || DictionaryEndId >= FirstMetaTokenId)
            throw new ArgumentException($"the dictionary delimiters must lie below the first meta-token id {FirstMetaTokenId}");
    }

    /// <summary>Renders <paramref name="sequence"/> for a model. Fails if a base token of the body or a definition is one of the delimiters.</summary>
    public int[] Encode(MetaTokenSequence sequence)
    {
        Validate();
        if (sequence.BaseVocabularySize != BaseVocabularySize)
            throw new ArgumentException($"the sequence has base vocabulary size {sequence.BaseVocabularySize}, the format {BaseVocabularySize}");
        if ((long)FirstMetaTokenId + sequence.Definitions.Count > int.MaxValue)
            throw new ArgumentException($"{sequence.Definitions.Count} meta-tokens from id {FirstMetaTokenId} exceed the id range");
        var output = new int[sequence.OutputTokenCount];
        int at = 0;
        if (sequence.Definitions.Count > 0)
        {
            output[at++] = DictionaryStartId;
            for (int k = 0; k < sequence.Definitions.Count; k++)
            {
                output[at++] = FirstMetaTokenId + k;
                at = Write(sequence.Definitions[k], output, at);
            }
            output[at++] = DictionaryEndId;
        }
        Write(sequence.Body, output, at);
        return output;
    }

    private int Write(ReadOnlySpan<int> ids, int[] output, int at)
    {
        int shift = FirstMetaTokenId - BaseVocabularySize;
        foreach (int id in ids)
        {
            if (id < BaseVocabularySize && (id == DictionaryStartId || id == DictionaryEndId))
                throw new ArgumentException($"token id {id} is a dictionary delimiter of this format and cannot appear in the text; choose other delimiter ids");
            output[at++] = id < BaseVocabularySize ? id : id + shift;
        }
        return at;
    }

    /// <summary>Parses a rendered sequence; throws <see cref="InvalidDataException"/> saying what is wrong and where.</summary>
    public MetaTokenSequence Decode(ReadOnlySpan<int> ids, long maxOutputTokens = DefaultMaxOutputTokens)
    {
        Validate();
        var definitions = new List<int[]>();
        int bodyStart = 0;
        if (ids.Length > 0 && ids[0] == DictionaryStartId)
        {
            int at = 1;
            while (true)
            {
                if (at >= ids.Length)
                    throw new InvalidDataException($"in-context sequence: the dictionary opened at position 0 is never closed (no end delimiter {DictionaryEndId})");
                int head = ids[at];
                if (head == DictionaryEndId)
                {
                    bodyStart = at + 1;
                    break;
                }
                int k = definitions.Count;
                if (head != (long)FirstMetaTokenId + k)
                    throw new InvalidDataException($"in-context sequence: position {at} should start dictionary entry {k} with id {FirstMetaTokenId + k} (or end the dictionary with {DictionaryEndId}), found {head}");
                int start = ++at;
                while (at < ids.Length && ids[at] != DictionaryEndId && ids[at] != (long)FirstMetaTokenId + k + 1)
                    at++;
                definitions.Add(Read(ids[start..at], start, k, new SequencePart(k)));
            }
        }
        var body = Read(ids[bodyStart..], bodyStart, definitions.Count, SequencePart.Body);
        MetaTokenSequence sequence;
        try
        {
            sequence = new MetaTokenSequence(BaseVocabularySize, [.. definitions], body, owned: true);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"in-context sequence: {e.Message}", e);
        }
        if (sequence.OriginalLength > maxOutputTokens)
            throw new InvalidDataException($"in-context sequence expands to {sequence.OriginalLength} tokens, above the limit {maxOutputTokens}");
        return sequence;
    }

    /// <summary>Parses and expands: the original token ids.</summary>
    public int[] DecodeToIds(ReadOnlySpan<int> ids, long maxOutputTokens = DefaultMaxOutputTokens) => Decode(ids, maxOutputTokens).Expand();

    /// <summary>Maps rendered ids back to canonical ones (meta-token k → V + k), allowing meta-tokens below <paramref name="metaLimit"/>.</summary>
    private int[] Read(ReadOnlySpan<int> ids, int offset, int metaLimit, SequencePart where)
    {
        var result = new int[ids.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if (id == DictionaryStartId || id == DictionaryEndId)
                throw new InvalidDataException($"in-context sequence: unexpected dictionary delimiter {id} at position {offset + i} ({where})");
            if (id >= 0 && id < BaseVocabularySize)
            {
                result[i] = id;
            }
            else if (id >= FirstMetaTokenId && id - (long)FirstMetaTokenId < metaLimit)
            {
                result[i] = BaseVocabularySize + (id - FirstMetaTokenId);
            }
            else
            {
                throw new InvalidDataException(id >= FirstMetaTokenId
                    ? $"in-context sequence: meta-token id {id} at position {offset + i} ({where}) is not defined before it is used"
                    : $"in-context sequence: id {id} at position {offset + i} ({where}) is neither a base token, a delimiter nor a meta-token");
            }
        }
        return result;
    }
}
