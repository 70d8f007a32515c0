namespace Terse.ZTokens;

/// <summary>
/// Where the Z-token rows sit in the extended vocabulary: the base vocabulary (ids 0 … BaseSize − 1,
/// untouched), then <see cref="CodeCount"/> Z-tokens, then three delimiters. <see cref="End"/> follows
/// the codes directly so that what the compressor may emit — a Z-token or the end of the code — is one
/// contiguous range of logits.
/// </summary>
/// <param name="BaseSize">Rows of the base model's vocabulary.</param>
/// <param name="CodeCount">|Z|: the number of Z-tokens.</param>
public sealed record ZVocabulary(int BaseSize, int CodeCount)
{
    /// <summary>End, Begin and Continue.</summary>
    public const int DelimiterCount = 3;

    public const int MinCodes = 2, MaxCodes = 1 << 16;

    public int FirstCode => BaseSize;

    /// <summary>Ends a Z code: the compressor's stop symbol, and in the decompressor's input the mark "now reconstruct the text".</summary>
    public int End => BaseSize + CodeCount;

    /// <summary>Opens a Z code: after the text in the compressor's input, first in the decompressor's.</summary>
    public int Begin => End + 1;

    /// <summary>Ends a Z code in the decompressor's input when what follows is the text after the coded one (continuation from Z-tokens alone).</summary>
    public int Continue => End + 2;

    /// <summary>Rows added to the base vocabulary.</summary>
    public int AddedRows => CodeCount + DelimiterCount;

    public int TotalSize => BaseSize + AddedRows;

    /// <summary>Logits the compressor chooses among: the codes and <see cref="End"/>.</summary>
    public int EmitChoices => CodeCount + 1;

    /// <summary>log2 |Z|: the bits one Z-token can carry.</summary>
    public double BitsPerCode => Math.Log2(CodeCount);

    public bool IsCode(int id) => id >= FirstCode && id < End;

    public void Validate()
    {
        if (BaseSize < 1)
            throw new ArgumentOutOfRangeException(nameof(BaseSize), BaseSize, "the base vocabulary must not be empty");
        if (CodeCount < MinCodes || CodeCount > MaxCodes)
            throw new ArgumentOutOfRangeException(nameof(CodeCount), CodeCount, $"|Z| must be in {MinCodes}..{MaxCodes}");
    }
}
