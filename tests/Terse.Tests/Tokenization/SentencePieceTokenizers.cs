using Terse.Tokenization.SentencePiece;
using TestData = Terse.Tests.Infrastructure.TestData;

namespace Terse.Tests.Tokenization;

/// <summary>Each shared SentencePiece model is parsed once per test run.</summary>
internal static class SentencePieceTokenizers
{
    private static readonly Dictionary<string, SentencePieceTokenizer> s_loaded = new();

    public static SentencePieceTokenizer Load(string relative)
    {
        lock (s_loaded)
        {
            if (!s_loaded.TryGetValue(relative, out var tokenizer))
                s_loaded[relative] = tokenizer = SentencePieceTokenizer.Load(TestData.Path(relative));
            return tokenizer;
        }
    }
}
