using Terse.Corpora;
using Terse.Neural;
using Terse.Neural.Training;
using Terse.Tokenization;

namespace Terse.Pretraining;

/// <summary>A passage of a copy test: token ids drawn from one source's documents.</summary>
public sealed record CopyPassage(string Source, int Document, int[] Tokens);

/// <summary>What a copy test measured, over all passages (token-weighted means).</summary>
/// <param name="FirstBitsPerToken">Cost of the passage's first occurrence (after BOS).</param>
/// <param name="SecondBitsPerToken">Cost of the second occurrence, after the first and the separator.</param>
public sealed record CopyTestResult(int Passages, long Tokens, double FirstBitsPerToken, double SecondBitsPerToken);

/// <summary>
/// The copy test: each passage is placed twice in one window, <c>[BOS] passage separator passage</c>,
/// and the model's cost of each occurrence is measured. A model that reads its context pays far
/// less for the second copy; one that does not pays about the same twice.
/// </summary>
public static class CopyTest
{
    /// <summary>The separator between the two occurrences: a blank line.</summary>
    public const string DefaultSeparator = "\n\n";

    /// <summary>
    /// <paramref name="count"/> passages of <paramref name="minTokens"/>–<paramref name="maxTokens"/>
    /// tokens from the documents of <paramref name="source"/> in <paramref name="split"/>, each
    /// starting after a space or line break, chosen with a fixed seed (the same call gives the same
    /// passages). At most one passage per document while documents last.
    /// </summary>
    public static IReadOnlyList<CopyPassage> Passages(string textFolder, TextSource source, Split split, Tokenizer tokenizer, int count,
        int minTokens = 64, int maxTokens = 200, ulong seed = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(minTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, minTokens);
        ArgumentOutOfRangeException.ThrowIfZero(seed);
        var documents = TextCorpus.Documents(textFolder, source, split);
        // Shuffle the documents with the seed so that passages spread over the whole split.
        ulong rng = seed;
        var order = Enumerable.Range(0, documents.Count).ToArray();
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = EpisodeBuilder.Between(0, i, ref rng);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var passages = new List<CopyPassage>();
        var ids = new List<int>();
        for (int round = 0; passages.Count < count && round < 64; round++)
        {
            int before = passages.Count;
            foreach (int d in order)
            {
                if (passages.Count == count)
                    break;
                string text = documents[d].Text;
                int length = EpisodeBuilder.Between(minTokens, maxTokens, ref rng);
                // About 4 characters a token or fewer: a piece of 8 per token always holds enough.
                int span = Math.Min(text.Length, 8 * length + 16);
                int start = StartAfterSpace(text, EpisodeBuilder.Between(0, text.Length - span, ref rng));
                ids.Clear();
                tokenizer.Encode(text.AsSpan(start, Math.Min(span, text.Length - start)), ids, EncodeOptions.Default);
                if (ids.Count < length + 1)
                    continue;
                // The last token may be cut mid-merge by the piece's end: keep whole tokens only.
                passages.Add(new CopyPassage(source.FileName, documents[d].Index, [.. ids.Take(length)]));
            }
            if (passages.Count == before)
                break;
        }
        return passages;
    }

    private static int StartAfterSpace(string text, int from)
    {
        int space = text.IndexOfAny([' ', '\n'], from);
        return space < 0 || space + 1 >= text.Length ? from : space + 1;
    }

    /// <summary>Ids of <paramref name="text"/> as it is tokenized after other text (without a dummy prefix or BOS).</summary>
    public static int[] SeparatorIds(Tokenizer tokenizer, string text)
    {
        var alone = tokenizer.Encode(".");
        var joined = tokenizer.Encode("." + text);
        return joined.AsSpan().StartsWith(alone) ? joined[alone.Length..] : joined;
    }

    /// <summary>Scores every passage twice over in one window each; passages must fit twice with the separator and BOS.</summary>
    public static CopyTestResult Run(LlamaModel model, IReadOnlyList<int[]> passages, int bos, ReadOnlySpan<int> separator,
        LoraAdapter? adapter = null, int batch = 8)
    {
        if (passages.Count == 0)
            throw new ArgumentException("no passages", nameof(passages));
        int longest = passages.Max(p => p.Length);
        int length = 1 + 2 * longest + separator.Length - 1;
        if (length > model.Config.MaxSequenceLength)
            throw new ArgumentException($"a passage of {longest} tokens twice with the separator needs {length + 1} positions; the model has {model.Config.MaxSequenceLength}");
        batch = Math.Clamp(Math.Min(batch, (1 << 24) / (model.Config.Heads * length * length)), 1, passages.Count);
        var pass = new BatchPass(model, batch, length, gradients: new Gradients([]), adapter: adapter);
        var inputs = new int[batch * length];
        var targets = new int[batch * length];
        double firstNats = 0, secondNats = 0;
        long tokens = 0;
        for (int first = 0; first < passages.Count; first += batch)
        {
            inputs.AsSpan().Fill(bos);
            targets.AsSpan().Fill(-1);
            for (int b = 0; b < batch && first + b < passages.Count; b++)
            {
                var p = passages[first + b];
                // Row: BOS p sep p; position i predicts token i + 1 of the row.
                var sequence = new int[1 + 2 * p.Length + separator.Length];
                sequence[0] = bos;
                p.CopyTo(sequence, 1);
                separator.CopyTo(sequence.AsSpan(1 + p.Length));
                p.CopyTo(sequence, 1 + p.Length + separator.Length);
                sequence.AsSpan(0, sequence.Length - 1).CopyTo(inputs.AsSpan(b * length));
                sequence.AsSpan(1).CopyTo(targets.AsSpan(b * length));
            }
            pass.Forward(inputs);
            pass.Loss(targets);
            var losses = pass.RowLosses;
            for (int b = 0; b < batch && first + b < passages.Count; b++)
            {
                int n = passages[first + b].Length, row = b * length;
                for (int i = 0; i < n; i++)
                {
                    firstNats += losses[row + i];
                    secondNats += losses[row + n + separator.Length + i];
                }
                tokens += n;
            }
        }
        double bits = 1 / Math.Log(2) / tokens;
        return new CopyTestResult(passages.Count, tokens, firstNats * bits, secondNats * bits);
    }
}
