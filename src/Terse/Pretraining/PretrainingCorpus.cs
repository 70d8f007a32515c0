using System.Text;
using Terse.Corpora;
using Terse.Tokenization;

namespace Terse.Pretraining;

/// <summary>
/// The documents of one split, tokenized and concatenated per domain (each document ends where the
/// next begins, with no separator of its own: the sources keep their own line ends), so that
/// episodes can draw windows and passages of any length.
/// </summary>
public sealed class PretrainingCorpus
{
    private readonly Dictionary<TextDomain, int[]> _tokens;

    private PretrainingCorpus(Dictionary<TextDomain, int[]> tokens, long bytes)
    {
        _tokens = tokens;
        Bytes = bytes;
    }

    /// <summary>A corpus of given token streams (tests, and text that does not come from <see cref="TextCorpus"/>).</summary>
    public static PretrainingCorpus FromTokens(IReadOnlyDictionary<TextDomain, int[]> tokens, long bytes = 0) =>
        new(tokens.Where(e => e.Value.Length > 0).ToDictionary(e => e.Key, e => e.Value.ToArray()), bytes);

    /// <summary>Domains that have text in this split.</summary>
    public IReadOnlyList<TextDomain> Domains => [.. _tokens.Keys.Order()];

    public long Bytes { get; }

    public long TokenCount => _tokens.Values.Sum(t => (long)t.Length);

    /// <summary>The token stream of one domain.</summary>
    public ReadOnlySpan<int> Tokens(TextDomain domain) => _tokens.TryGetValue(domain, out var t) ? t : [];

    /// <summary>Reads and tokenizes the <paramref name="split"/> of every source of <see cref="TextCorpus"/>.</summary>
    public static PretrainingCorpus Load(string textFolder, Split split, Tokenizer tokenizer)
    {
        var byDomain = new Dictionary<TextDomain, List<int>>();
        long bytes = 0;
        foreach (var source in TextCorpus.Sources)
        {
            foreach (var document in TextCorpus.Documents(textFolder, source, split))
            {
                if (!byDomain.TryGetValue(source.Domain, out var ids))
                    byDomain[source.Domain] = ids = [];
                tokenizer.Encode(document.Text, ids, EncodeOptions.Default);
                bytes += Encoding.UTF8.GetByteCount(document.Text);
            }
        }
        return new PretrainingCorpus(byDomain.Where(e => e.Value.Count > 0).ToDictionary(e => e.Key, e => e.Value.ToArray()), bytes);
    }
}
