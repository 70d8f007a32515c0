using System.Text;
using Terse.MetaTokens;
using Terse.Tokenization;

namespace Terse.Extensions.AI;

/// <summary>
/// Lossless meta-tokens for models that read text: Terse's meta-token compressor finds the
/// repeated token runs, and the dictionary and body are written as text, a meta-token as
/// <c>§k§</c> (k from 1):
/// <code>§1§first definition§2§second definition§§body with §1§ and §2§</code>
/// A chat API takes text, not new token ids, so a reference costs about three tokens instead of
/// one; only runs that still pay at that price are kept. See docs/extensions-ai.md.
/// </summary>
public static class MetaTokenText
{
    public const char Marker = '§';

    // What one written reference costs in the tokenizers measured (cl100k_base, o200k_base).
    private const int ReferenceTokens = 3;

    /// <summary>
    /// The meta-token form of <paramref name="text"/> when it is shorter under
    /// <paramref name="tokenizer"/> and expands back exactly; false when nothing pays or the text
    /// already holds <see cref="Marker"/> (which the form could not tell apart).
    /// </summary>
    public static bool TryCompress(string text, Tokenizer tokenizer, out string compressed)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(tokenizer);
        compressed = text;
        if (text.Contains(Marker))
            return false;
        var ids = tokenizer.Encode(text);
        int vocabulary = tokenizer.VocabularySize;
        var sequence = MetaTokenCompressor.Compress(ids, vocabulary);
        if (sequence.Definitions.Count == 0)
            return false;
        var uses = new int[sequence.Definitions.Count];
        foreach (int id in sequence.Body)
            if (id >= vocabulary)
                uses[id - vocabulary]++;
        // Written number of each definition that pays for its header and references (0: inlined).
        var number = new int[uses.Length];
        var written = new List<int[]>();
        for (int k = 0; k < uses.Length; k++)
        {
            int length = sequence.Definitions[k].Length;
            if ((uses[k] - 1) * length > ReferenceTokens * (uses[k] + 1))
            {
                written.Add(sequence.Definitions[k]);
                number[k] = written.Count;
            }
        }
        if (written.Count == 0)
            return false;
        var builder = new StringBuilder();
        for (int k = 0; k < written.Count; k++)
            builder.Append(Marker).Append(k + 1).Append(Marker).Append(tokenizer.Decode(written[k]));
        builder.Append(Marker).Append(Marker);
        var run = new List<int>();
        foreach (int id in sequence.Body)
        {
            if (id < vocabulary)
                run.Add(id);
            else if (number[id - vocabulary] == 0)
                run.AddRange(sequence.Definitions[id - vocabulary]);
            else
            {
                builder.Append(tokenizer.Decode([.. run])).Append(Marker).Append(number[id - vocabulary]).Append(Marker);
                run.Clear();
            }
        }
        builder.Append(tokenizer.Decode([.. run]));
        string candidate = builder.ToString();
        // A run may begin or end inside a character (byte-level tokenizers); decoded alone it would
        // not give the text back, so the form is checked, never assumed.
        if (tokenizer.CountTokens(candidate) >= ids.Length || Expand(candidate) != text)
            return false;
        compressed = candidate;
        return true;
    }

    /// <summary>The original text of a form made by <see cref="TryCompress"/>.</summary>
    /// <exception cref="InvalidDataException">Not such a form (the message says where).</exception>
    public static string Expand(string compressed)
    {
        ArgumentNullException.ThrowIfNull(compressed);
        var parts = compressed.Split(Marker);
        // §1§d1§2§d2§§body → "", "1", d1, "2", d2, "", body, …: headers and definitions alternate
        // until the empty header that closes the dictionary; then text and reference numbers alternate.
        if (parts.Length < 4 || parts[0].Length != 0)
            throw new InvalidDataException($"not a meta-token text: it must start with {Marker}1{Marker}");
        var definitions = new List<string>();
        int at = 1;
        for (; at + 1 < parts.Length && parts[at].Length > 0; at += 2)
        {
            if (parts[at] != (definitions.Count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture))
                throw new InvalidDataException($"meta-token text: dictionary entry {definitions.Count + 1} expected, found '{parts[at]}'");
            definitions.Add(parts[at + 1]);
        }
        if (at + 1 >= parts.Length || parts[at].Length != 0)
            throw new InvalidDataException($"meta-token text: the dictionary is never closed with {Marker}{Marker}");
        var builder = new StringBuilder();
        for (int i = at + 1; i < parts.Length; i++)
        {
            if ((i - at) % 2 == 1)
                builder.Append(parts[i]);
            else if (int.TryParse(parts[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int k) && k >= 1 && k <= definitions.Count)
                builder.Append(definitions[k - 1]);
            else
                throw new InvalidDataException($"meta-token text: '{Marker}{parts[i]}{Marker}' is not a defined meta-token (1…{definitions.Count})");
        }
        return builder.ToString();
    }
}
