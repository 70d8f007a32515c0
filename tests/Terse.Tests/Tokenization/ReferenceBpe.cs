using System.Text;
using Terse.Tokenization.SentencePiece;

namespace Terse.Tests.Tokenization;

/// <summary>
/// SentencePiece's BPE encode and llama2.c's run.c encode written out plainly, over strings, as the
/// yardstick for the library's fast encoders (pair table, pseudo symbols, segment cuts, segment
/// cache). Nothing here is shared with the library: symbols are the strings they spell, a merge is
/// found by looking the concatenated string up, and the whole input is merged as one sequence.
/// </summary>
internal static class ReferenceBpe
{
    /// <summary>One symbol: the text it spells (Latin-1 bytes for llama2.c), a known id or -1, and whether it may merge.</summary>
    public sealed record Symbol(string Text, int Id, bool Frozen);

    /// <summary>
    /// The merge loop of both references: the adjacent pair whose concatenation <paramref name="lookup"/>
    /// knows, with the best score, merges; ties go to the leftmost pair; until nothing merges.
    /// With <paramref name="rescan"/> every step rescans all pairs as run.c does (quadratic, for short
    /// inputs); otherwise an agenda of candidates as SentencePiece's bpe_model.cc keeps, whose
    /// <paramref name="onCandidate"/> sees each candidate when it is added, in bpe_model.cc's order.
    /// </summary>
    public static List<Symbol> Merge(List<Symbol> symbols, Func<string, (int Id, float Score)?> lookup, bool rescan,
        Action<string, Symbol, Symbol>? onCandidate = null)
    {
        return rescan ? Rescan(new List<Symbol>(symbols), lookup) : Agenda(symbols, lookup, onCandidate);
    }

    private static List<Symbol> Rescan(List<Symbol> symbols, Func<string, (int Id, float Score)?> lookup)
    {
        while (true)
        {
            int best = -1;
            float bestScore = float.NegativeInfinity;
            int bestId = -1;
            for (int i = 0; i + 1 < symbols.Count; i++)
            {
                if (symbols[i].Frozen || symbols[i + 1].Frozen)
                    continue;
                if (lookup(symbols[i].Text + symbols[i + 1].Text) is not (int id, float score))
                    continue;
                if (best < 0 || score > bestScore)
                    (best, bestScore, bestId) = (i, score, id);
            }
            if (best < 0)
                return symbols;
            symbols[best] = new Symbol(symbols[best].Text + symbols[best + 1].Text, bestId, false);
            symbols.RemoveAt(best + 1);
        }
    }

    private static List<Symbol> Agenda(List<Symbol> initial, Func<string, (int Id, float Score)?> lookup, Action<string, Symbol, Symbol>? onCandidate)
    {
        var symbols = initial.ToArray();
        int n = symbols.Length;
        var next = Enumerable.Range(1, n).Select(i => i < n ? i : -1).ToArray();
        var prev = Enumerable.Range(-1, n).ToArray();
        var agenda = new PriorityQueue<(int Left, int Right, string Text, int Id), (float Score, int Left)>(
            Comparer<(float Score, int Left)>.Create((a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Left.CompareTo(b.Left)));

        void Add(int left, int right)
        {
            if (left < 0 || right < 0 || symbols[left].Frozen || symbols[right].Frozen)
                return;
            string text = symbols[left].Text + symbols[right].Text;
            if (lookup(text) is not (int id, float score))
                return;
            onCandidate?.Invoke(text, symbols[left], symbols[right]);
            agenda.Enqueue((left, right, text, id), (score, left));
        }

        for (int i = 1; i < n; i++)
            Add(i - 1, i);
        while (agenda.TryDequeue(out var top, out _))
        {
            // Stale when either side changed since: the texts no longer add up to the candidate.
            if (symbols[top.Left] is null || symbols[top.Right] is null || next[top.Left] != top.Right
                || symbols[top.Left].Text.Length + symbols[top.Right].Text.Length != top.Text.Length)
                continue;
            symbols[top.Left] = new Symbol(top.Text, top.Id, false);
            symbols[top.Right] = null!;
            next[top.Left] = next[top.Right];
            if (next[top.Left] >= 0)
                prev[next[top.Left]] = top.Left;
            Add(prev[top.Left], top.Left);
            Add(top.Left, next[top.Left]);
        }
        return symbols.Where(s => s is not null).ToList();
    }

    /// <summary>Longest entry of <paramref name="entries"/> that <paramref name="text"/> has at <paramref name="at"/> (ties: lowest id).</summary>
    private static (int Length, int Id) LongestAt(string text, int at, int end, IEnumerable<(string Text, int Id)> entries)
    {
        var best = (Length: 0, Id: -1);
        foreach (var (entry, id) in entries)
        {
            if (entry.Length == 0 || at + entry.Length > end || string.CompareOrdinal(text, at, entry, 0, entry.Length) != 0)
                continue;
            if (entry.Length > best.Length || (entry.Length == best.Length && id < best.Id))
                best = (entry.Length, id);
        }
        return best;
    }

    /// <summary>SentencePiece's encode of <paramref name="text"/> (BPE or CHAR model, identity normalizer).</summary>
    public static List<int> SentencePiece(SentencePieceModel model, string text, bool allowControl)
    {
        int count = model.Pieces.Length;
        var mergeable = new Dictionary<string, int>(StringComparer.Ordinal);
        var reserved = new Dictionary<string, int>(StringComparer.Ordinal);
        int unk = -1;
        var byteIds = new int[256];
        for (int id = 0; id < count; id++)
        {
            var type = model.Types[id];
            if (type is PieceType.Normal or PieceType.UserDefined or PieceType.Unused)
                mergeable.TryAdd(model.Pieces[id], id);
            else
                reserved.TryAdd(model.Pieces[id], id);
            if (type == PieceType.Unknown)
                unk = id;
            if (type == PieceType.Byte)
                byteIds[Convert.ToByte(model.Pieces[id][3..5], 16)] = id;
        }
        var controls = reserved.Where(p => model.Types[p.Value] == PieceType.Control).Select(p => (p.Key, p.Value)).ToArray();
        var userDefined = mergeable.Where(p => model.Types[p.Value] == PieceType.UserDefined).Select(p => (p.Key, p.Value)).ToArray();

        // Units: characters, or a CONTROL piece's id where its spelling is allowed.
        var units = new List<(char Char, int Opaque)>();
        for (int i = 0; i < text.Length;)
        {
            var (length, id) = allowControl ? LongestAt(text, i, text.Length, controls) : (0, -1);
            if (length > 0)
            {
                units.Add(('\0', id));
                i += length;
            }
            else
            {
                units.Add((text[i++], -1));
            }
        }

        // Identity normalizer: trim and collapse spaces if asked, escape spaces, dummy prefix.
        int start = 0, end = units.Count;
        if (model.RemoveExtraWhitespaces)
        {
            while (start < end && units[start] == (' ', -1))
                start++;
            while (end > start && units[end - 1] == (' ', -1))
                end--;
        }
        if (start == end)
            return [];
        char space = model.EscapeWhitespaces ? '\u2581' : ' ';
        var normalized = new List<(char Char, int Opaque)>();
        if (model.AddDummyPrefix)
            normalized.Add((space, -1));
        for (int i = start; i < end; i++)
        {
            var unit = units[i];
            if (unit == (' ', -1))
            {
                // Runs of spaces collapse to one.
                if (model.RemoveExtraWhitespaces && i > start && units[i - 1] == (' ', -1))
                    continue;
                normalized.Add((space, -1));
            }
            else
            {
                normalized.Add(unit);
            }
        }

        // Symbols: opaque units and user-defined pieces frozen, else one code point each.
        string plain = new(normalized.Select(u => u.Char).ToArray());
        var symbols = new List<Symbol>();
        int runEnd = 0; // end of the text run (up to the next opaque unit) that position i is in
        for (int i = 0; i < normalized.Count;)
        {
            if (normalized[i].Opaque >= 0)
            {
                symbols.Add(new Symbol("", normalized[i].Opaque, true));
                i++;
                continue;
            }
            if (runEnd <= i)
            {
                runEnd = i;
                while (runEnd < normalized.Count && normalized[runEnd].Opaque < 0)
                    runEnd++;
            }
            var (length, id) = LongestAt(plain, i, runEnd, userDefined);
            if (length > 0)
            {
                symbols.Add(new Symbol(plain.Substring(i, length), id, true));
                i += length;
                continue;
            }
            int width = char.IsSurrogatePair(plain, i) && i + 1 < runEnd ? 2 : 1;
            string character = char.IsSurrogate(plain[i]) && width == 1 ? "\uFFFD" : plain.Substring(i, width);
            symbols.Add(new Symbol(character, mergeable.GetValueOrDefault(character, -1), false));
            i += width;
        }

        // Merge (BPE only), remembering how UNUSED pieces were formed, then resegment them.
        var splits = new Dictionary<string, (Symbol Left, Symbol Right)>(StringComparer.Ordinal);
        var merged = model.ModelType == SentencePieceModelType.Bpe
            ? Merge(symbols, s => mergeable.TryGetValue(s, out int id) ? (id, model.Scores[id]) : null, rescan: false,
                (piece, left, right) =>
                {
                    if (model.Types[mergeable[piece]] == PieceType.Unused)
                        splits[piece] = (left, right);
                })
            : symbols;

        var ids = new List<int>();
        bool previousUnknown = false;
        foreach (var symbol in merged)
            Emit(symbol);
        return ids;

        void Emit(Symbol symbol)
        {
            if (symbol.Frozen)
            {
                ids.Add(symbol.Id);
                previousUnknown = false;
                return;
            }
            if (mergeable.TryGetValue(symbol.Text, out int id))
            {
                if (model.Types[id] == PieceType.Unused && splits.TryGetValue(symbol.Text, out var split))
                {
                    Emit(split.Left);
                    Emit(split.Right);
                    return;
                }
                ids.Add(id);
                previousUnknown = false;
                return;
            }
            if (reserved.TryGetValue(symbol.Text, out int reservedId) && model.Types[reservedId] is PieceType.Control or PieceType.Byte)
            {
                ids.Add(reservedId);
                previousUnknown = false;
                return;
            }
            if (model.ByteFallback)
            {
                ids.AddRange(Encoding.UTF8.GetBytes(symbol.Text).Select(b => byteIds[b]));
                previousUnknown = false;
                return;
            }
            if (!previousUnknown)
                ids.Add(unk);
            previousUnknown = true;
        }
    }

    /// <summary>
    /// run.c's encode: the " " token, one token per UTF-8 group (a byte and up to three continuation
    /// bytes) or its bytes as tokens byte + 3, then merges of tokens by their concatenated strings.
    /// With <paramref name="allowSpecial"/>, "&lt;s&gt;" and "&lt;/s&gt;" are BOS and EOS, frozen.
    /// </summary>
    public static List<int> Llama2c(byte[][] pieces, float[] scores, string text, bool allowSpecial, bool rescan)
    {
        if (text.Length == 0)
            return [];
        var lowestId = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < pieces.Length; id++)
            lowestId.TryAdd(Latin1(pieces[id]), id);

        var symbols = new List<Symbol> { new(" ", lowestId[" "], false) };
        int segmentStart = 0;
        for (int i = 0; i < text.Length;)
        {
            string? special = !allowSpecial ? null
                : string.CompareOrdinal(text, i, "</s>", 0, 4) == 0 ? "</s>"
                : string.CompareOrdinal(text, i, "<s>", 0, 3) == 0 ? "<s>" : null;
            if (special is null)
            {
                i++;
                continue;
            }
            AddText(text[segmentStart..i]);
            symbols.Add(new Symbol(special, special == "<s>" ? 1 : 2, true));
            i += special.Length;
            segmentStart = i;
        }
        AddText(text[segmentStart..]);

        var merged = Merge(symbols, s => lowestId.TryGetValue(s, out int id) && scores[id] > -1e10f ? (id, scores[id]) : null, rescan);
        return merged.Select(s => s.Id).ToList();

        void AddText(string part)
        {
            var utf8 = Encoding.UTF8.GetBytes(part);
            for (int i = 0; i < utf8.Length;)
            {
                int start = i++;
                while (i < utf8.Length && (utf8[i] & 0xC0) == 0x80 && i - start < 4)
                    i++;
                string group = Latin1(utf8.AsSpan(start, i - start));
                if (lowestId.TryGetValue(group, out int id))
                    symbols.Add(new Symbol(group, id, false));
                else
                    for (int k = start; k < i; k++)
                        symbols.Add(new Symbol(Latin1(pieces[utf8[k] + 3]), utf8[k] + 3, false));
            }
        }
    }

    private static string Latin1(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);
}
