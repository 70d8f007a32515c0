using System.Runtime.CompilerServices;

namespace Terse.Tokenization.SentencePiece;

/// <summary>
/// Longest-prefix matching of a fixed set of strings (special tokens, user-defined pieces) at a
/// position of a text: candidates are grouped by first char and tried longest first. Callers probe
/// every position of a text, so a bitmap of first chars answers the usual "nothing starts here" at once.
/// </summary>
internal sealed class LongestMatcher
{
    private readonly Dictionary<char, (string Text, int Id)[]> _byFirstChar;
    private readonly ulong[] _firstChars = new ulong[(char.MaxValue + 1) / 64];

    public LongestMatcher(IEnumerable<KeyValuePair<string, int>> entries)
    {
        _byFirstChar = entries
            .Where(e => e.Key.Length > 0)
            .GroupBy(e => e.Key[0])
            .ToDictionary(
                g => g.Key,
                g => g.OrderByDescending(e => e.Key.Length).ThenBy(e => e.Value).Select(e => (e.Key, e.Value)).ToArray());
        foreach (char first in _byFirstChar.Keys)
            _firstChars[first >> 6] |= 1UL << first;
    }

    public bool IsEmpty => _byFirstChar.Count == 0;

    /// <summary>Whether some entry starts with <paramref name="c"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool MayStartWith(char c) => (_firstChars[c >> 6] & (1UL << c)) != 0;

    /// <summary>Length of the longest entry that <paramref name="text"/> starts with (0 when none), and its id.</summary>
    public int Match(ReadOnlySpan<char> text, out int id)
    {
        id = -1;
        if (text.IsEmpty || !MayStartWith(text[0]) || !_byFirstChar.TryGetValue(text[0], out var candidates))
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
