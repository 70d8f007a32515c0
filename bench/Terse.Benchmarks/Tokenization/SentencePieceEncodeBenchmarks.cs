using BenchmarkDotNet.Attributes;
using Terse.Tokenization;
using Terse.Tokenization.Gguf;
using Terse.Tokenization.Llama2c;
using Terse.Tokenization.SentencePiece;

namespace Terse.Benchmarks.Tokenization;

/// <summary>
/// Encode throughput of the SentencePiece-family tokenizers on 256 KB of TinyStories, one thread.
/// Run: <c>dotnet run -c Release --project bench/Terse.Benchmarks -- --filter '*SentencePieceEncode*'</c>.
/// MB/s = 0.262144 / mean seconds.
/// </summary>
[MemoryDiagnoser]
public class SentencePieceEncodeBenchmarks
{
    private Tokenizer _tokenizer = null!;
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
        _text = File.ReadAllText(Path.Combine(data, "text/tinystories_valid_head.txt"))[..262_144];
    }

    [Benchmark]
    public int Encode() => _tokenizer.Encode(_text).Length;

    private static string SharedData()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Terse.slnx")))
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data"));
        throw new InvalidOperationException("repository root (Terse.slnx) not found above " + AppContext.BaseDirectory);
    }
}
