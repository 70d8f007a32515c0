using Terse.Tests.Infrastructure;
using Terse.Tokenization;

namespace Terse.Tests.Tokenization;

/// <summary>Every byte-level BPE tokenizer Terse ships or loads, by a short name, loaded once for all tests.</summary>
public static class ShippedTokenizers
{
    private static readonly Dictionary<string, Lazy<Tokenizer>> All = new()
    {
        ["r50k_base"] = new(() => TokenizerRegistry.Load("r50k_base")),
        ["p50k_base"] = new(() => TokenizerRegistry.Load("p50k_base")),
        ["p50k_edit"] = new(() => TokenizerRegistry.Load("p50k_edit")),
        ["cl100k_base"] = new(() => TokenizerRegistry.Load("cl100k_base")),
        ["o200k_base"] = new(() => TokenizerRegistry.Load("o200k_base")),
        ["llama3"] = new(() => TokenizerRegistry.Load(TestData.Path("tokenizers/llama3_tokenizer.model.tiktoken"))),
        ["gpt2-hf"] = new(() => TokenizerRegistry.Load(TestData.Path("tokenizers/gpt2_vocab.json"))),
        ["qwen2-hf"] = new(() => TokenizerRegistry.Load(TestData.Path("tokenizers/qwen2_vocab.json"))),
    };

    /// <summary>What decoding the ids of <paramref name="text"/> gives back: the text, in NFC for Qwen2.</summary>
    public static string RoundTripOf(string name, string text)
    {
        if (name != "qwen2-hf")
            return text;
        var utf8 = System.Text.Encoding.UTF8.GetBytes(text);
        return Terse.Tokenization.Normalization.Nfc.MayChange(utf8) ? System.Text.Encoding.UTF8.GetString(Terse.Tokenization.Normalization.Nfc.Normalize(utf8)) : text;
    }

    public static IEnumerable<string> Names => All.Keys;

    public static TheoryData<string> Theory() => [.. All.Keys];

    public static Tokenizer Get(string name) => All[name].Value;
}
