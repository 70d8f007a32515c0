using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Terse.Tokenization.PreTokenization;

/// <summary>
/// Translates a pre-tokenizer pattern written for a code-point regex engine (Rust's regex/fancy-regex
/// as in tiktoken, Oniguruma as in Hugging Face tokenizers) into an equivalent .NET pattern. .NET
/// matches UTF-16 code units, so <c>\p{L}</c> there never matches a letter outside the BMP; here every
/// character class becomes a set of code points, emitted as BMP ranges plus surrogate-pair ranges.
/// Possessive quantifiers become atomic groups, <c>$</c> means end of text as in Rust, and
/// case-insensitive letters become explicit sets following Unicode simple case folding.
/// Serves as the reference the hand-written scanners are tested against, and as the pre-tokenizer for
/// patterns no scanner implements.
/// </summary>
internal static class CodePointRegex
{
    private const int MaxCodePoint = 0x10FFFF;

    /// <param name="pattern">The pattern in Rust/Oniguruma syntax.</param>
    /// <param name="compiled">Compile to IL: slower to build, several times faster on long texts.</param>
    public static Regex Create(string pattern, bool compiled = false) =>
        new(Translate(pattern), RegexOptions.CultureInvariant | (compiled ? RegexOptions.Compiled : 0), TimeSpan.FromSeconds(30));

    /// <exception cref="NotSupportedException">A construct outside the supported subset (the message names it).</exception>
    public static string Translate(string pattern)
    {
        var parser = new Parser(pattern);
        var result = parser.Alternation();
        if (!parser.AtEnd)
            throw parser.Unsupported("unbalanced ')'");
        return result;
    }

    private sealed class Parser(string pattern)
    {
        private int _position;
        private bool _ignoreCase;

        public bool AtEnd => _position >= pattern.Length;

        public NotSupportedException Unsupported(string what) =>
            new($"pre-tokenizer pattern: {what} at offset {_position} of '{(pattern.Length <= 80 ? pattern : pattern[..80] + "…")}'");

        private char Peek => pattern[_position];

        private bool TryTake(string text)
        {
            if (string.CompareOrdinal(pattern, _position, text, 0, text.Length) != 0)
                return false;
            _position += text.Length;
            return true;
        }

        public string Alternation()
        {
            var result = new StringBuilder(Sequence());
            while (!AtEnd && Peek == '|')
            {
                _position++;
                result.Append('|').Append(Sequence());
            }
            return result.ToString();
        }

        private string Sequence()
        {
            var result = new StringBuilder();
            while (!AtEnd && Peek != '|' && Peek != ')')
            {
                if (TryTake("(?i)"))
                {
                    _ignoreCase = true;
                    continue;
                }
                if (TryTake("(?-i)"))
                {
                    _ignoreCase = false;
                    continue;
                }
                var atom = Atom(out bool quantifiable);
                var (quantifier, possessive) = Quantifier();
                if (quantifier.Length > 0 && !quantifiable)
                    throw Unsupported("a quantifier after an anchor");
                result.Append(possessive ? $"(?>{atom}{quantifier})" : atom + quantifier);
            }
            return result.ToString();
        }

        private string Atom(out bool quantifiable)
        {
            quantifiable = true;
            char c = Peek;
            switch (c)
            {
                case '(':
                    return Group();
                case '[':
                    _position++;
                    return Emit(Class());
                case '.':
                    _position++;
                    return Emit(CodePointSet.All().Without('\n'));
                case '^':
                    _position++;
                    quantifiable = false;
                    return @"\A";
                case '$':
                    _position++;
                    quantifiable = false;
                    return @"\z";
                case '\\':
                    _position++;
                    if (AtEnd)
                        throw Unsupported("a trailing backslash");
                    switch (Peek)
                    {
                        case 'A' or 'z' or 'b' or 'B':
                            quantifiable = false;
                            return "\\" + pattern[_position++];
                        case 'Z':
                            throw Unsupported(@"\Z");
                    }
                    var escaped = Escape(inClass: false);
                    return escaped.Set is { } set ? Emit(set) : Literal(escaped.CodePoint);
                case '*' or '+' or '?' or '{':
                    throw Unsupported($"a quantifier '{c}' with nothing to repeat");
                default:
                    int codePoint = char.ConvertToUtf32(pattern, _position);
                    _position += char.IsSurrogatePair(pattern, _position) ? 2 : 1;
                    return Literal(codePoint);
            }
        }

        private string Group()
        {
            _position++; // (
            bool saved = _ignoreCase;
            string open;
            if (TryTake("?:"))
                open = "(?:";
            else if (TryTake("?i:"))
            {
                open = "(?:";
                _ignoreCase = true;
            }
            else if (TryTake("?-i:"))
            {
                open = "(?:";
                _ignoreCase = false;
            }
            else if (TryTake("?="))
                open = "(?=";
            else if (TryTake("?!"))
                open = "(?!";
            else if (TryTake("?<="))
                open = "(?<=";
            else if (TryTake("?<!"))
                open = "(?<!";
            else if (TryTake("?>"))
                open = "(?>";
            else if (TryTake("?P<") || TryTake("?<"))
            {
                int close = pattern.IndexOf('>', _position);
                if (close < 0)
                    throw Unsupported("an unterminated group name");
                _position = close + 1;
                open = "(?:";
            }
            else if (!AtEnd && Peek == '?')
                throw Unsupported("this group flag");
            else
                open = "(?:"; // captures do not matter for splitting
            var inner = Alternation();
            if (AtEnd || Peek != ')')
                throw Unsupported("an unterminated group");
            _position++;
            _ignoreCase = saved;
            return open + inner + ")";
        }

        private (string Quantifier, bool Possessive) Quantifier()
        {
            if (AtEnd)
                return ("", false);
            string quantifier;
            char c = Peek;
            if (c is '*' or '+' or '?')
            {
                _position++;
                quantifier = c.ToString();
            }
            else if (c == '{')
            {
                int close = pattern.IndexOf('}', _position);
                if (close < 0)
                    throw Unsupported("an unterminated {n,m}");
                var body = pattern[(_position + 1)..close];
                var parts = body.Split(',');
                if (parts.Length > 2 || parts.Any(p => p.Length > 0 && !p.All(char.IsAsciiDigit)) || parts[0].Length == 0)
                    throw Unsupported($"the repetition '{{{body}}}'");
                quantifier = "{" + body + "}";
                _position = close + 1;
            }
            else
                return ("", false);
            if (!AtEnd && Peek == '?')
            {
                _position++;
                return (quantifier + "?", false);
            }
            if (!AtEnd && Peek == '+')
            {
                _position++;
                return (quantifier, true);
            }
            return (quantifier, false);
        }

        private CodePointSet Class()
        {
            bool negated = TryTake("^");
            var set = new CodePointSet();
            bool first = true;
            while (true)
            {
                if (AtEnd)
                    throw Unsupported("an unterminated character class");
                if (Peek == ']' && !first)
                {
                    _position++;
                    break;
                }
                first = false;
                if (Peek == '[')
                    throw Unsupported("a nested character class");
                if (TryTake("&&") || TryTake("--") || TryTake("~~"))
                    throw Unsupported("a character class operation");
                int low;
                if (Peek == '\\')
                {
                    _position++;
                    if (AtEnd)
                        throw Unsupported("a trailing backslash");
                    var escaped = Escape(inClass: true);
                    if (escaped.Set is { } member)
                    {
                        set.UnionWith(member);
                        continue;
                    }
                    low = escaped.CodePoint;
                }
                else
                {
                    low = char.ConvertToUtf32(pattern, _position);
                    _position += char.IsSurrogatePair(pattern, _position) ? 2 : 1;
                }
                int high = low;
                if (!AtEnd && Peek == '-' && _position + 1 < pattern.Length && pattern[_position + 1] != ']')
                {
                    _position++;
                    if (Peek == '\\')
                    {
                        _position++;
                        var escaped = Escape(inClass: true);
                        if (escaped.Set is not null)
                            throw Unsupported("a range ending in a class escape");
                        high = escaped.CodePoint;
                    }
                    else
                    {
                        high = char.ConvertToUtf32(pattern, _position);
                        _position += char.IsSurrogatePair(pattern, _position) ? 2 : 1;
                    }
                    if (high < low)
                        throw Unsupported("a reversed range");
                }
                set.AddRange(low, high);
            }
            if (_ignoreCase)
                set = set.WithCaseVariants();
            return negated ? set.Complement() : set;
        }

        /// <summary>The escape after a backslash: a class (\s, \p{L}, …) or one code point.</summary>
        private (CodePointSet? Set, int CodePoint) Escape(bool inClass)
        {
            char c = pattern[_position++];
            switch (c)
            {
                case 's': return (CodePointSet.Where(cp => CodePointClasses.IsWhiteSpace(cp)), 0);
                case 'S': return (CodePointSet.Where(cp => CodePointClasses.IsWhiteSpace(cp)).Complement(), 0);
                case 'd': return (CodePointSet.Categories(UnicodeCategory.DecimalDigitNumber), 0);
                case 'D': return (CodePointSet.Categories(UnicodeCategory.DecimalDigitNumber).Complement(), 0);
                case 'w': return (WordSet(), 0);
                case 'W': return (WordSet().Complement(), 0);
                case 'p' or 'P':
                    {
                        string name;
                        if (!AtEnd && Peek == '{')
                        {
                            int close = pattern.IndexOf('}', _position);
                            if (close < 0)
                                throw Unsupported("an unterminated \\p{…}");
                            name = pattern[(_position + 1)..close];
                            _position = close + 1;
                        }
                        else if (!AtEnd)
                            name = pattern[_position++].ToString();
                        else
                            throw Unsupported("\\p without a name");
                        bool negate = c == 'P';
                        if (name.StartsWith('^'))
                        {
                            negate = !negate;
                            name = name[1..];
                        }
                        var set = CodePointSet.Categories(CategoriesNamed(name));
                        return (negate ? set.Complement() : set, 0);
                    }
                case 'r': return (null, '\r');
                case 'n': return (null, '\n');
                case 't': return (null, '\t');
                case 'f': return (null, '\f');
                case 'v': return (null, '\v');
                case 'a': return (null, '\a');
                case 'e': return (null, 0x1B);
                case '0': return (null, 0);
                case 'x':
                    if (!AtEnd && Peek == '{')
                    {
                        int close = pattern.IndexOf('}', _position);
                        if (close < 0)
                            throw Unsupported("an unterminated \\x{…}");
                        var hex = pattern[(_position + 1)..close];
                        _position = close + 1;
                        return (null, HexCodePoint(hex));
                    }
                    return (null, HexCodePoint(TakeHex(2)));
                case 'u':
                    return (null, HexCodePoint(TakeHex(4)));
                default:
                    if (char.IsAsciiLetterOrDigit(c))
                        throw Unsupported($"the escape \\{c}");
                    return (null, c);
            }
        }

        private string TakeHex(int count)
        {
            if (_position + count > pattern.Length)
                throw Unsupported("a truncated hexadecimal escape");
            var hex = pattern.Substring(_position, count);
            _position += count;
            return hex;
        }

        private int HexCodePoint(string hex)
        {
            if (!int.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int value) || value > MaxCodePoint)
                throw Unsupported($"the code point '{hex}'");
            return value;
        }

        private string Literal(int codePoint)
        {
            if (_ignoreCase)
            {
                var variants = new CodePointSet();
                variants.AddRange(codePoint, codePoint);
                variants = variants.WithCaseVariants();
                if (variants.Count > 1)
                    return Emit(variants);
            }
            return codePoint < 0x10000 ? $"\\u{codePoint:X4}" : $"(?:{char.ConvertFromUtf32(codePoint)})";
        }

        // Rust's Unicode \w: Alphabetic, marks, decimal digits, connector punctuation, join controls.
        // Alphabetic is approximated by letters and letter numbers (it also has a few symbols).
        private static CodePointSet WordSet()
        {
            var set = CodePointSet.Categories(UnicodeCategory.UppercaseLetter, UnicodeCategory.LowercaseLetter,
                UnicodeCategory.TitlecaseLetter, UnicodeCategory.ModifierLetter, UnicodeCategory.OtherLetter,
                UnicodeCategory.LetterNumber, UnicodeCategory.NonSpacingMark, UnicodeCategory.SpacingCombiningMark,
                UnicodeCategory.EnclosingMark, UnicodeCategory.DecimalDigitNumber, UnicodeCategory.ConnectorPunctuation);
            set.AddRange(0x200C, 0x200D);
            return set;
        }

        private UnicodeCategory[] CategoriesNamed(string name) => name switch
        {
            "L" or "Letter" => [UnicodeCategory.UppercaseLetter, UnicodeCategory.LowercaseLetter, UnicodeCategory.TitlecaseLetter, UnicodeCategory.ModifierLetter, UnicodeCategory.OtherLetter],
            "Lu" => [UnicodeCategory.UppercaseLetter],
            "Ll" => [UnicodeCategory.LowercaseLetter],
            "Lt" => [UnicodeCategory.TitlecaseLetter],
            "Lm" => [UnicodeCategory.ModifierLetter],
            "Lo" => [UnicodeCategory.OtherLetter],
            "M" or "Mark" => [UnicodeCategory.NonSpacingMark, UnicodeCategory.SpacingCombiningMark, UnicodeCategory.EnclosingMark],
            "Mn" => [UnicodeCategory.NonSpacingMark],
            "Mc" => [UnicodeCategory.SpacingCombiningMark],
            "Me" => [UnicodeCategory.EnclosingMark],
            "N" or "Number" => [UnicodeCategory.DecimalDigitNumber, UnicodeCategory.LetterNumber, UnicodeCategory.OtherNumber],
            "Nd" => [UnicodeCategory.DecimalDigitNumber],
            "Nl" => [UnicodeCategory.LetterNumber],
            "No" => [UnicodeCategory.OtherNumber],
            "P" or "Punctuation" => [UnicodeCategory.ConnectorPunctuation, UnicodeCategory.DashPunctuation, UnicodeCategory.OpenPunctuation,
                UnicodeCategory.ClosePunctuation, UnicodeCategory.InitialQuotePunctuation, UnicodeCategory.FinalQuotePunctuation, UnicodeCategory.OtherPunctuation],
            "Pc" => [UnicodeCategory.ConnectorPunctuation],
            "Pd" => [UnicodeCategory.DashPunctuation],
            "Ps" => [UnicodeCategory.OpenPunctuation],
            "Pe" => [UnicodeCategory.ClosePunctuation],
            "Pi" => [UnicodeCategory.InitialQuotePunctuation],
            "Pf" => [UnicodeCategory.FinalQuotePunctuation],
            "Po" => [UnicodeCategory.OtherPunctuation],
            "S" or "Symbol" => [UnicodeCategory.MathSymbol, UnicodeCategory.CurrencySymbol, UnicodeCategory.ModifierSymbol, UnicodeCategory.OtherSymbol],
            "Sm" => [UnicodeCategory.MathSymbol],
            "Sc" => [UnicodeCategory.CurrencySymbol],
            "Sk" => [UnicodeCategory.ModifierSymbol],
            "So" => [UnicodeCategory.OtherSymbol],
            "Z" or "Separator" => [UnicodeCategory.SpaceSeparator, UnicodeCategory.LineSeparator, UnicodeCategory.ParagraphSeparator],
            "Zs" => [UnicodeCategory.SpaceSeparator],
            "Zl" => [UnicodeCategory.LineSeparator],
            "Zp" => [UnicodeCategory.ParagraphSeparator],
            "C" or "Other" => [UnicodeCategory.Control, UnicodeCategory.Format, UnicodeCategory.Surrogate, UnicodeCategory.PrivateUse, UnicodeCategory.OtherNotAssigned],
            "Cc" => [UnicodeCategory.Control],
            "Cf" => [UnicodeCategory.Format],
            "Co" => [UnicodeCategory.PrivateUse],
            "Cn" => [UnicodeCategory.OtherNotAssigned],
            _ => throw Unsupported($"the property \\p{{{name}}}"),
        };

        private static string Emit(CodePointSet set) => set.ToDotNetPattern();
    }
}

/// <summary>A set of Unicode scalar values (surrogate code points are never members).</summary>
internal sealed class CodePointSet
{
    private const int Size = 0x110000;
    private static UnicodeCategory[]? _categories;
    private readonly ulong[] _bits = new ulong[Size / 64];

    public int Count => _bits.Sum(w => System.Numerics.BitOperations.PopCount(w));

    public bool Contains(int cp) => (_bits[cp >> 6] & (1UL << cp)) != 0;

    public void AddRange(int low, int high)
    {
        for (int cp = low; cp <= high; cp++)
            if (cp is < 0xD800 or > 0xDFFF)
                _bits[cp >> 6] |= 1UL << cp;
    }

    public void UnionWith(CodePointSet other)
    {
        for (int i = 0; i < _bits.Length; i++)
            _bits[i] |= other._bits[i];
    }

    public static CodePointSet All()
    {
        var set = new CodePointSet();
        set.AddRange(0, Size - 1);
        return set;
    }

    public CodePointSet Without(int cp)
    {
        _bits[cp >> 6] &= ~(1UL << cp);
        return this;
    }

    public CodePointSet Complement()
    {
        var result = new CodePointSet();
        for (int i = 0; i < _bits.Length; i++)
            result._bits[i] = ~_bits[i];
        for (int cp = 0xD800; cp <= 0xDFFF; cp++)
            result._bits[cp >> 6] &= ~(1UL << cp);
        return result;
    }

    public static CodePointSet Where(Func<int, bool> predicate)
    {
        var set = new CodePointSet();
        for (int cp = 0; cp < Size; cp++)
            if (cp is < 0xD800 or > 0xDFFF && predicate(cp))
                set._bits[cp >> 6] |= 1UL << cp;
        return set;
    }

    public static CodePointSet Categories(params UnicodeCategory[] categories)
    {
        var table = _categories ??= BuildCategories();
        var wanted = new bool[32];
        foreach (var category in categories)
            wanted[(int)category] = true;
        return Where(cp => wanted[(int)table[cp]]);
    }

    private static UnicodeCategory[] BuildCategories()
    {
        var table = new UnicodeCategory[Size];
        for (int cp = 0; cp < Size; cp++)
            table[cp] = cp is >= 0xD800 and <= 0xDFFF ? UnicodeCategory.Surrogate : CharUnicodeInfo.GetUnicodeCategory(cp);
        return table;
    }

    /// <summary>
    /// Adds the case variants of every member under Unicode simple case folding: upper and lower
    /// case, plus the folds that are neither (ſ→s, K→k, Å→å, ς→σ, …). Sets of more than 4,096 code
    /// points (categories) are left as they are: right for \p{L} or \s, which are closed under case,
    /// not for a case-insensitive \p{Lu}, which no known pre-tokenizer pattern uses.
    /// </summary>
    public CodePointSet WithCaseVariants()
    {
        if (Count > 4096)
            return this;
        var result = new CodePointSet();
        result.UnionWith(this);
        for (int cp = 0; cp < Size; cp++)
        {
            if (!Contains(cp))
                continue;
            foreach (int variant in CaseVariants(cp))
                result.AddRange(variant, variant);
        }
        return result;
    }

    private static readonly (int A, int B)[] ExtraFolds =
    [
        ('s', 0x017F), ('k', 0x212A), (0xE5, 0x212B), (0x03C3, 0x03C2), (0x03B2, 0x03D0), (0x03B5, 0x03F5),
        (0x03B8, 0x03D1), (0x03B9, 0x1FBE), (0x03BA, 0x03F0), (0x03BC, 0xB5), (0x03C0, 0x03D6), (0x03C1, 0x03F1),
        (0x03C6, 0x03D5), (0x03C9, 0x2126), (0x1E61, 0x1E9B),
    ];

    private static IEnumerable<int> CaseVariants(int cp)
    {
        var text = char.ConvertFromUtf32(cp);
        var lower = text.ToLowerInvariant();
        var upper = text.ToUpperInvariant();
        if (char.ConvertToUtf32(lower, 0) is var l && l != cp)
            yield return l;
        if (char.ConvertToUtf32(upper, 0) is var u && u != cp)
            yield return u;
        int folded = char.ConvertToUtf32(lower, 0);
        foreach (var (a, b) in ExtraFolds)
        {
            if (folded == a || cp == b)
            {
                yield return a;
                yield return b;
                var aUpper = char.ConvertFromUtf32(a).ToUpperInvariant();
                yield return char.ConvertToUtf32(aUpper, 0);
            }
        }
    }

    /// <summary>A .NET pattern matching exactly one member code point (a surrogate pair outside the BMP).</summary>
    public string ToDotNetPattern()
    {
        var alternatives = new List<string>();
        var bmp = new StringBuilder();
        foreach (var (low, high) in Ranges(0, 0xFFFF))
            bmp.Append(high == low ? $"\\u{low:X4}" : $"\\u{low:X4}-\\u{high:X4}");
        if (bmp.Length > 0)
            alternatives.Add("[" + bmp + "]");

        // Outside the BMP: per high surrogate, the set of low surrogates; consecutive high surrogates
        // whose low sets are complete are merged into one range.
        int fullStart = -1;
        for (int hi = 0xD800; hi <= 0xDC00; hi++)
        {
            var lows = new StringBuilder();
            bool full = false;
            if (hi <= 0xDBFF)
            {
                int baseCp = 0x10000 + ((hi - 0xD800) << 10);
                var ranges = Ranges(baseCp, baseCp + 0x3FF).ToList();
                full = ranges.Count == 1 && ranges[0] == (baseCp, baseCp + 0x3FF);
                if (!full)
                    foreach (var (low, high) in ranges)
                        lows.Append(high == low ? $"\\u{0xDC00 + low - baseCp:X4}" : $"\\u{0xDC00 + low - baseCp:X4}-\\u{0xDC00 + high - baseCp:X4}");
            }
            if (full)
            {
                if (fullStart < 0)
                    fullStart = hi;
                continue;
            }
            if (fullStart >= 0)
            {
                alternatives.Add($"[\\u{fullStart:X4}-\\u{hi - 1:X4}][\\uDC00-\\uDFFF]");
                fullStart = -1;
            }
            if (lows.Length > 0)
                alternatives.Add($"\\u{hi:X4}[{lows}]");
        }
        return alternatives.Count == 0 ? "(?!)" : "(?:" + string.Join("|", alternatives) + ")";
    }

    private IEnumerable<(int Low, int High)> Ranges(int from, int to)
    {
        int start = -1;
        for (int cp = from; cp <= to + 1; cp++)
        {
            bool member = cp <= to && Contains(cp);
            if (member && start < 0)
                start = cp;
            else if (!member && start >= 0)
            {
                yield return (start, cp - 1);
                start = -1;
            }
        }
    }
}
