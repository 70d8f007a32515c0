using BenchmarkDotNet.Attributes;
using Terse.Tokenization;
using Terse.Tokenization.Gguf;
using Terse.Tokenization.Llama2c;
using Terse.Tokenization.SentencePiece;

namespace Terse.Benchmarks.Tokenization;

/// <summary>
/// Encode throughput of the SentencePiece-family tokenizers on 256 KB of TinyStories, one thread,
/// the whole text as one sequence. <see cref="Encode"/> repeats the same text, so the segment
/// cache already holds its words; <see cref="EncodeColdCache"/> empties the cache first, which is
/// what encoding text never seen before costs.
/// Run: <c>dotnet run -c Release --project bench/Terse.Benchmarks -- --filter '*SentencePieceEncode*' --job short</c>.
/// MB/s = 0.262144 / mean seconds. The SentencePiece library's own figure for the same text comes
/// from <c>sentencepiece_reference.py</c> beside this file.
/// </summary>
[MemoryDiagnoser]
public class SentencePieceEncodeBenchmarks
{
    private Tokenizer _tokenizer = null!;
    private Action _forgetCache = null!;
    private string _text = "";

    [Params("llama2 .model", "llama2 .bin (llama2.c)", "llama-spm .gguf", "stories260K (llama2.c)")]
    public string Vocabulary { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        string data = SharedData();
        _tokenizer = Vocabulary switch
        {
            "llama2 .model" => SentencePieceTokenizer.Load(Path.Combine(data, "tokenizers/llama2_tokenizer.model")),
            "llama2 .bin (llama2.c)" => Llama2cTokenizer.Load(Path.Combine(data, "tokenizers/llama2_tokenizer_llama2c.bin")),
            "llama-spm .gguf" => GgufVocabulary.Load(Path.Combine(data, "tokenizers/ggml-vocab-llama-spm.gguf")).ToTokenizer(),
            _ => Llama2cTokenizer.Stories260K,
        };
        _forgetCache = _tokenizer switch
        {
            SentencePieceTokenizer sentencePiece => sentencePiece.ForgetCachedSegments,
            Llama2cTokenizer llama2c => llama2c.ForgetCachedSegments,
            _ => throw new InvalidOperationException($"no segment cache on {_tokenizer.GetType().Name}"),
        };
        _text = File.ReadAllText(Path.Combine(data, "text/tinystories_valid_head.txt"))[..262_144];
    }

    [Benchmark]
    public int Encode() => _tokenizer.Encode(_text).Length;

    [Benchmark]
    public int EncodeColdCache()
    {
        _forgetCache();
        return _tokenizer.Encode(_text).Length;
    }

    private static string SharedData()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Terse.slnx")))
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data"));
        throw new InvalidOperationException("repository root (Terse.slnx) not found above " + AppContext.BaseDirectory);
    }
}
