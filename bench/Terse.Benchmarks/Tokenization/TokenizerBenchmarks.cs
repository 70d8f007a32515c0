using BenchmarkDotNet.Attributes;
using Terse.Tokenization;

namespace Terse.Benchmarks.Tokenization;

/// <summary>
/// Encode and decode of WikiText-2 (1.3 MB) with the built-in encodings, in BenchmarkDotNet:
/// <c>dotnet run -c Release --project bench/Terse.Benchmarks -- --filter '*TokenizerBenchmarks*'</c>.
/// The comparison with npm tiktoken is the <c>tokenizer-speed</c> command.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 2, iterationCount: 6)]
public class TokenizerBenchmarks
{
    private Tokenizer _tokenizer = null!;
    private string _text = null!;
    private int[] _ids = null!;
    private readonly List<int> _buffer = new(1 << 19);

    [Params("r50k_base", "cl100k_base", "o200k_base")]
    public string Encoding { get; set; } = "cl100k_base";

    [GlobalSetup]
    public void Setup()
    {
        _tokenizer = TokenizerRegistry.Load(Encoding);
        _text = TokenizerSpeedCommand.ReadText(Path.Combine(TokenizerSpeedCommand.RepositoryRoot(), "..", "shared", "data", "text", "wikitext2_raw_test.txt"));
        _ids = _tokenizer.Encode(_text);
    }

    [Benchmark]
    public int Encode()
    {
        _buffer.Clear();
        _tokenizer.Encode(_text, _buffer, EncodeOptions.Default);
        return _buffer.Count;
    }

    [Benchmark]
    public int Decode() => _tokenizer.DecodeToBytes(_ids).Length;
}
