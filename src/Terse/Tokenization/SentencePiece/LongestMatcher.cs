namespace Terse.Tokenization.SentencePiece;

/// <summary>
/// Longest-prefix matching of a fixed set of strings (special tokens, user-defined pieces) at a
/// position of a text: candidates are grouped by first char and tried longest first.
/// </summary>
internal sealed class LongestMatcher
{
    private readonly Dictionary<char, (string Text, int Id)[]> _byFirstChar;

    public LongestMatcher(IEnumerable<KeyValuePair<string, int>> entries)
    {
        _byFirstChar = entries
            .Where(e => e.Key.Length > 0)
            .GroupBy(e => e.Key[0])
            .ToDictionary(
                g => g.Key,
                g => g.OrderByDescending(e => e.Key.Length).ThenBy(e => e.Value).Select(e => (e.Key, e.Value)).ToArray());
    }

    public bool IsEmpty => _byFirstChar.Count == 0;

    /// <summary>Length of the longest entry that <paramref name="text"/> starts with (0 when none), and its id.</summary>
    public int Match(ReadOnlySpan<char> text, out int id)
    {
        id = -1;
        if (text.IsEmpty || !_byFirstChar.TryGetValue(text[0], out var candidates))
            return 0;
        foreach (var (candidate, candidateId) in candidates)
        {
            if (text.StartsWith(candidate, StringComparison.Ordinal))
            {
                id = candidateId;
                return candidate.Length;
            }
        }
        return 0;
    }
}
