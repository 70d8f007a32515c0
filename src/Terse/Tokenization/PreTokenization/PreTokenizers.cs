namespace Terse.Tokenization.PreTokenization;

/// <summary>The known pre-tokenizer patterns and the scanner that implements each exactly.</summary>
internal static class PreTokenizers
{
    /// <summary>GPT-2, r50k_base, p50k_base, and Hugging Face's ByteLevel pre-tokenizer.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>cl100k_base, and Llama 3 (its tokenizer uses this very pattern).</summary>
    public const string Cl100kPattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's Split pattern: cl100k_base's with single digits.</summary>
    public const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public const string O200kPattern =
        @"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
        + @"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
        + @"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>The families by the names users give them (<c>--pre-tokenizer</c>).</summary>
    public static IReadOnlyList<(string Name, string Pattern, ScanningPreTokenizer Scanner)> Known { get; } =
    [
        ("gpt2", Gpt2Pattern, Gpt2Scanner.Instance),
        ("cl100k", Cl100kPattern, Cl100kScanner.Cl100k),
        ("llama3", Cl100kPattern, Cl100kScanner.Cl100k),
        ("qwen2", Qwen2Pattern, Cl100kScanner.Qwen2),
        ("o200k", O200kPattern, O200kScanner.Instance),
    ];

    public static string KnownNames => string.Join(", ", Known.Select(k => k.Name));

    public static ScanningPreTokenizer ByName(string name)
    {
        foreach (var known in Known)
            if (string.Equals(known.Name, name, StringComparison.OrdinalIgnoreCase))
                return known.Scanner;
        throw new ArgumentException($"unknown pre-tokenizer '{name}' (known: {KnownNames})");
    }

    /// <summary>The hand-written scanner for a pattern it implements exactly, else null.</summary>
    public static ScanningPreTokenizer? ScannerFor(string pattern)
    {
        foreach (var known in Known)
            if (known.Pattern == pattern)
                return known.Scanner;
        return null;
    }
}
