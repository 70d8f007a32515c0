namespace Terse.MetaTokens;

/// <summary>
/// A token sequence in compressed form: a dictionary of meta-tokens and a body. Ids below
/// <see cref="BaseVocabularySize"/> are ordinary tokens; id <c>BaseVocabularySize + k</c> stands for
/// meta-token k, whose definition is <c>Definitions[k]</c>. A definition holds at least two ids and
/// may refer only to meta-tokens defined before it (k' &lt; k), so expansion always terminates.
/// This is the canonical form; <see cref="InContextFormat"/> renders it for a model and
/// <see cref="MetaTokenContainer"/> stores it.
/// </summary>
public sealed class MetaTokenSequence
{
    private readonly int[][] definitions;
    private readonly int[] body;

    /// <summary>
    /// Copies and validates the parts; throws <see cref="InvalidDataException"/> when they do not
    /// describe a sequence.
    /// </summary>
    public MetaTokenSequence(int baseVocabularySize, IReadOnlyList<int[]> definitions, int[] body)
        : this(baseVocabularySize, [.. definitions.Select(d => d.ToArray())], body.ToArray(), owned: true)
    {
    }

    /// <summary>Takes over arrays nobody else holds (the codec's own output), validating them.</summary>
    internal MetaTokenSequence(int baseVocabularySize, int[][] definitions, int[] body, bool owned)
    {
        if (baseVocabularySize <= 0)
            throw new ArgumentOutOfRangeException(nameof(baseVocabularySize), baseVocabularySize, "the base vocabulary size must be positive");
        _ = owned;
        BaseVocabularySize = baseVocabularySize;
        this.definitions = definitions;
        this.body = body;
        ExpandedLengths = ComputeExpandedLengths(baseVocabularySize, definitions, body, out long total);
        OriginalLength = total;
    }

    public int BaseVocabularySize { get; }

    /// <summary>
    /// Meta-token definitions in id order: <c>Definitions[k]</c> defines id <c>BaseVocabularySize + k</c>.
    /// The arrays belong to this sequence: read them, do not change them.
    /// </summary>
    public IReadOnlyList<int[]> Definitions => definitions;

    public ReadOnlySpan<int> Body => body;

    /// <summary>Length of the sequence this stands for.</summary>
    public long OriginalLength { get; }

    /// <summary>Number of base tokens each meta-token expands to.</summary>
    internal long[] ExpandedLengths { get; }

    /// <summary>True when some definition uses an earlier meta-token.</summary>
    public bool IsHierarchical => definitions.Any(d => d.Any(id => id >= BaseVocabularySize));

    /// <summary>
    /// Tokens a model reads in the in-context form: the body, plus, when there is a dictionary,
    /// its two delimiters and one meta-token id and the definition for every entry.
    /// </summary>
    public int OutputTokenCount => definitions.Length == 0 ? body.Length : 2 + DictionaryTokenCount + body.Length;

    /// <summary>Tokens of the dictionary entries (meta-token id + definition each), without the delimiters.</summary>
    public int DictionaryTokenCount
    {
        get
        {
            int total = 0;
            foreach (var d in definitions)
                total += 1 + d.Length;
            return total;
        }
    }

    /// <summary>The original token sequence.</summary>
    public int[] Expand()
    {
        if (OriginalLength > Array.MaxLength)
            throw new InvalidDataException($"the sequence expands to {OriginalLength} tokens, more than an array can hold");
        var output = new int[OriginalLength];
        ExpandInto(output);
        return output;
    }

    /// <summary>
    /// Writes the expansion. The first use of a meta-token is expanded from its definition (with an
    /// explicit stack, as definitions may nest deeply) and remembered by its place in the output;
    /// every later use copies that block. Work and memory stay linear in the output however the
    /// dictionary nests, and definitions the body never uses cost nothing.
    /// </summary>
    internal void ExpandInto(Span<int> output)
    {
        int baseSize = BaseVocabularySize;
        var firstAt = new long[definitions.Length];
        Array.Fill(firstAt, -1);
        var stackMeta = new Stack<(int Meta, int Next, long Start)>();
        long at = 0;
        foreach (int id in body)
        {
            if (id < baseSize)
            {
                output[(int)at++] = id;
                continue;
            }
            int meta = id - baseSize;
            if (definitions[meta].Length == ExpandedLengths[meta])
            {
                // A flat definition: copy it (the dictionary is small and stays in cache).
                var definition = definitions[meta];
                var target = output.Slice((int)at, definition.Length);
                if (definition.Length <= 16)
                {
                    for (int i = 0; i < definition.Length; i++)
                        target[i] = definition[i];
                }
                else
                {
                    definition.CopyTo(target);
                }
                at += definition.Length;
                continue;
            }
            if (firstAt[meta] >= 0)
            {
                int length = (int)ExpandedLengths[meta];
                output.Slice((int)firstAt[meta], length).CopyTo(output.Slice((int)at, length));
                at += length;
                continue;
            }
            stackMeta.Push((meta, 0, at));
            while (stackMeta.Count > 0)
            {
                var (m, next, start) = stackMeta.Pop();
                var definition = definitions[m];
                bool descended = false;
                while (next < definition.Length)
                {
                    int item = definition[next++];
                    if (item < baseSize)
                    {
                        output[(int)at++] = item;
                    }
                    else if (firstAt[item - baseSize] >= 0)
                    {
                        int length = (int)ExpandedLengths[item - baseSize];
                        output.Slice((int)firstAt[item - baseSize], length).CopyTo(output.Slice((int)at, length));
                        at += length;
                    }
                    else
                    {
                        stackMeta.Push((m, next, start));
                        stackMeta.Push((item - baseSize, 0, at));
                        descended = true;
                        break;
                    }
                }
                if (!descended)
                    firstAt[m] = start;
            }
        }
    }

    /// <summary>Checks every id and computes expansion lengths without expanding anything.</summary>
    private static long[] ComputeExpandedLengths(int baseSize, int[][] definitions, int[] body, out long total)
    {
        var lengths = new long[definitions.Length];
        for (int k = 0; k < definitions.Length; k++)
        {
            var d = definitions[k];
            if (d.Length < 2)
                throw new InvalidDataException($"meta-token {k} is defined by {d.Length} token(s); a definition needs at least 2");
            lengths[k] = SumLengths(d, baseSize, k, lengths, new SequencePart(k));
        }
        total = SumLengths(body, baseSize, definitions.Length, lengths, SequencePart.Body);
        return lengths;
    }

    private static long SumLengths(int[] ids, int baseSize, int metaLimit, long[] lengths, SequencePart where)
    {
        // Base tokens count one each; only meta-tokens need a look-up and the overflow guard
        // (each length is at most MaxExpandedLength, so a long cannot overflow between checks).
        long limit = (long)baseSize + metaLimit;
        long sum = 0;
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if ((uint)id < (uint)baseSize)
            {
                sum++;
                continue;
            }
            if (id < 0 || id >= limit)
                throw new InvalidDataException(id < 0
                    ? $"{where}: id {id} at position {i} is negative"
                    : $"{where}: id {id} at position {i} refers to meta-token {id - (long)baseSize}, but only {metaLimit} may be used here");
            sum += lengths[id - baseSize];
            if (sum > MaxExpandedLength)
                throw new InvalidDataException($"{where} expands to more than {MaxExpandedLength} tokens");
        }
        return sum;
    }

    /// <summary>Expansion lengths beyond this are refused while validating, so arithmetic never overflows.</summary>
    internal const long MaxExpandedLength = 1L << 50;
}

/// <summary>Names a part of a sequence in error messages; formatted only when an error is raised.</summary>
internal readonly record struct SequencePart(int Meta)
{
    public static SequencePart Body => new(-1);

    public override string ToString() => Meta < 0 ? "body" : $"definition of meta-token {Meta}";
}
