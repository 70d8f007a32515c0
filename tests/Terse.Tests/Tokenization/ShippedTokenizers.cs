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
    };

    public static IEnumerable<string> Names => All.Keys;

    public static TheoryData<string> Theory() => [.. All.Keys];

    public static Tokenizer Get(string name) => All[name].Value;
}
