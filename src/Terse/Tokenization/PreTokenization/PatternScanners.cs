namespace Terse.Tokenization.PreTokenization;

/// <summary>
/// GPT-2's pattern (r50k_base, p50k_base, Hugging Face ByteLevel):
/// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>.
/// </summary>
internal sealed class Gpt2Scanner : ScanningPreTokenizer
{
    public static Gpt2Scanner Instance { get; } = new();

    public override string Id => "gpt2";

    public override int PieceEnd(ReadOnlySpan<byte> s, int i)
    {
        byte b = s[i];
        if (b == (byte)'\'')
        {
            int contraction = ContractionLength(s, i, ignoreCase: false);
            if (contraction > 0)
                return i + contraction;
        }
        // " ?" is taken only when a letter, digit or other character follows it.
        int k = b == (byte)' ' && i + 1 < s.Length ? i + 1 : i;
        var c = CodePointClasses.At(s, k, out _);
        if ((c & CharClass.Letter) != 0)
            return ClassRunEnd(s, k, CharClass.Letter);
        if ((c & CharClass.Number) != 0)
            return ClassRunEnd(s, k, CharClass.Number);
        if (IsOther(c))
            return OtherRunEnd(s, k);
        return WhitespaceEnd(s, i, lineBreakRule: false);
    }
}

/// <summary>
/// The cl100k_base family: cl100k_base and Llama 3 (digit runs of up to 3), Qwen2 (single digits):
/// <c>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</c>.
/// </summary>
internal sealed class Cl100kScanner : ScanningPreTokenizer
{
    public static Cl100kScanner Cl100k { get; } = new(maxDigits: 3);
    public static Cl100kScanner Qwen2 { get; } = new(maxDigits: 1);

    private readonly int _maxDigits;

    private Cl100kScanner(int maxDigits) => _maxDigits = maxDigits;

    public override string Id => _maxDigits == 3 ? "cl100k" : "qwen2";

    public override int PieceEnd(ReadOnlySpan<byte> s, int i)
    {
        byte b = s[i];
        if (b == (byte)'\'')
        {
            int contraction = ContractionLength(s, i, ignoreCase: true);
            if (contraction > 0)
                return i + contraction;
        }
        var c0 = CodePointClasses.At(s, i, out int len0);
        if ((c0 & CharClass.Letter) != 0)
            return ClassRunEnd(s, i, CharClass.Letter);
        // [^\r\n\p{L}\p{N}]?\p{L}+ with the optional character present.
        if ((c0 & (CharClass.LineBreak | CharClass.Number)) == 0 && i + len0 < s.Length
            && (CodePointClasses.At(s, i + len0, out _) & CharClass.Letter) != 0)
            return ClassRunEnd(s, i + len0, CharClass.Letter);
        if ((c0 & CharClass.Number) != 0)
            return DigitsEnd(s, i);
        // " ?[^\s\p{L}\p{N}]+[\r\n]*"
        int k = b == (byte)' ' && i + 1 < s.Length ? i + 1 : i;
        if (IsOther(CodePointClasses.At(s, k, out _)))
            return LineBreakRunEnd(s, OtherRunEnd(s, k));
        return WhitespaceEnd(s, i, lineBreakRule: true);
    }

    private int DigitsEnd(ReadOnlySpan<byte> s, int i)
    {
        for (int count = 0; count < _maxDigits && i < s.Length; count++)
        {
            if ((CodePointClasses.At(s, i, out int len) & CharClass.Number) == 0)
                break;
            i += len;
        }
        return i;
    }

    private static int LineBreakRunEnd(ReadOnlySpan<byte> s, int i)
    {
        while (i < s.Length && s[i] is (byte)'\r' or (byte)'\n')
            i++;
        return i;
    }
}

/// <summary>
/// o200k_base:
/// <c>[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?</c>
/// <c>|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?</c>
/// <c>|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+</c>.
/// The two classes overlap (Lm, Lo and marks are in both), so the backtracking of the first
/// alternative is reproduced explicitly.
/// </summary>
internal sealed class O200kScanner : ScanningPreTokenizer
{
    public static O200kScanner Instance { get; } = new();

    public override string Id => "o200k";

    public override int PieceEnd(ReadOnlySpan<byte> s, int i)
    {
        byte b = s[i];
        var c0 = CodePointClasses.At(s, i, out int len0);
        if ((c0 & CharClass.Letter) != 0)
        {
            int end = WordWithLowerEnd(s, i);
            return end >= 0 ? end : UpperWordEnd(s, i);
        }
        if ((c0 & (CharClass.LineBreak | CharClass.Number)) == 0)
        {
            // The optional leading [^\r\n\p{L}\p{N}] is tried first with the character taken …
            int end = WordWithLowerEnd(s, i + len0);
            if (end >= 0)
                return end;
            // … then without it: only a mark can start a word itself, and a mark is lower-case-like.
            if ((c0 & CharClass.Mark) != 0)
                return WordWithLowerEnd(s, i);
            end = UpperWordEnd(s, i + len0);
            if (end >= 0)
                return end;
        }
        if ((c0 & CharClass.Number) != 0)
        {
            int j = i;
            for (int count = 0; count < 3 && j < s.Length; count++)
            {
                if ((CodePointClasses.At(s, j, out int len) & CharClass.Number) == 0)
                    break;
                j += len;
            }
            return j;
        }
        // " ?[^\s\p{L}\p{N}]+[\r\n/]*"
        int k = b == (byte)' ' && i + 1 < s.Length ? i + 1 : i;
        if (IsOther(CodePointClasses.At(s, k, out _)))
        {
            int j = OtherRunEnd(s, k);
            while (j < s.Length && s[j] is (byte)'\r' or (byte)'\n' or (byte)'/')
                j++;
            return j;
        }
        return WhitespaceEnd(s, i, lineBreakRule: true);
    }

    /// <summary>
    /// <c>[Upper]*[Lower]+(?i:contraction)?</c> at <paramref name="a"/>, or -1. Upper* is greedy; when
    /// no lower-case-like character follows it, it gives back characters until one that is also
    /// lower-case-like (Lm, Lo, a mark) can start Lower+.
    /// </summary>
    private static int WordWithLowerEnd(ReadOnlySpan<byte> s, int a)
    {
        int e = a, lastLowerEnd = -1;
        while (e < s.Length)
        {
            var c = CodePointClasses.At(s, e, out int len);
            if ((c & CharClass.UpperLike) == 0)
                break;
            e += len;
            if ((c & CharClass.LowerLike) != 0)
                lastLowerEnd = e;
        }
        if (e < s.Length && (CodePointClasses.At(s, e, out _) & CharClass.LowerLike) != 0)
            return WithContraction(s, ClassRunEnd(s, e, CharClass.LowerLike));
        if (lastLowerEnd < 0)
            return -1;
        // Lower+ is the single given-back character; a contraction can follow only if it ended the run
        // (otherwise an upper-case letter follows it).
        return lastLowerEnd == e ? WithContraction(s, e) : lastLowerEnd;
    }

    /// <summary><c>[Upper]+[Lower]*(?i:contraction)?</c> at <paramref name="a"/>, or -1.</summary>
    private static int UpperWordEnd(ReadOnlySpan<byte> s, int a)
    {
        int e = ClassRunEnd(s, a, CharClass.UpperLike);
        if (e == a)
            return -1;
        return WithContraction(s, ClassRunEnd(s, e, CharClass.LowerLike));
    }

    private static int WithContraction(ReadOnlySpan<byte> s, int i) => i + ContractionLength(s, i, ignoreCase: true);
}
