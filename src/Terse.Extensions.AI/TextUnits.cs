using System.Text;
using System.Text.RegularExpressions;

namespace Terse.Extensions.AI;

/// <summary>A piece of a message: lossy methods drop whole droppable units and never touch the others.</summary>
internal readonly record struct TextUnit(string Text, bool Droppable);

/// <summary>
/// Splits a message into units. Kept whole: user-marked spans (<c>&lt;terse:keep&gt;…&lt;/terse:keep&gt;</c>,
/// markers removed), fenced and inline code, whitespace (so dropping words keeps the line
/// structure) and, with <c>protectNumbersAndNames</c>, every word holding a digit or a capital
/// letter. Everything else is a word that may be dropped.
/// </summary>
internal static partial class TextUnits
{
    public const string KeepOpen = "<terse:keep>", KeepClose = "</terse:keep>";

    // Code first: a keep marker quoted inside code is code, not an instruction.
    [GeneratedRegex(@"```.*?(?:```|\z)|`[^`\n]+`|<terse:keep>(?<keep>.*?)</terse:keep>|(?<open><terse:keep>)", RegexOptions.Singleline)]
    private static partial Regex ProtectedSpan();

    // A word takes the spaces after it, so dropping words leaves no runs of spaces; line breaks stay.
    [GeneratedRegex(@"\S+[ \t]*|\s+")]
    private static partial Regex WordOrSpace();

    public static List<TextUnit> Split(string text, bool protectNumbersAndNames)
    {
        var units = new List<TextUnit>();
        int at = 0;
        foreach (Match span in ProtectedSpan().Matches(text))
        {
            if (span.Groups["open"].Success)
                throw new ArgumentException($"a {KeepOpen} marker at character {span.Index} is never closed with {KeepClose}");
            AddWords(text[at..span.Index], protectNumbersAndNames, units);
            units.Add(new(span.Groups["keep"].Success ? span.Groups["keep"].Value : span.Value, Droppable: false));
            at = span.Index + span.Length;
        }
        AddWords(text[at..], protectNumbersAndNames, units);
        return units;
    }

    private static void AddWords(string text, bool protectNumbersAndNames, List<TextUnit> units)
    {
        foreach (Match word in WordOrSpace().Matches(text))
        {
            string value = word.Value;
            bool keep = char.IsWhiteSpace(value[0]) || protectNumbersAndNames && value.Any(c => char.IsDigit(c) || char.IsUpper(c));
            units.Add(new(value, !keep));
        }
    }

    /// <summary>The text of the units not in <paramref name="dropped"/>.</summary>
    public static string Join(IReadOnlyList<TextUnit> units, IReadOnlySet<int>? dropped = null)
    {
        var builder = new StringBuilder();
        for (int i = 0; i < units.Count; i++)
            if (dropped is null || !dropped.Contains(i))
                builder.Append(units[i].Text);
        return builder.ToString();
    }
}
