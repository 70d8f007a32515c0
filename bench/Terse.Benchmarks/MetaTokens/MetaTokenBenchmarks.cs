using BenchmarkDotNet.Attributes;
using Terse.MetaTokens;

namespace Terse.Benchmarks.MetaTokens;

/// <summary>
/// Meta-token compression and decompression of 1,000,000 real-text ids (the first million
/// cl100k_base ids of the shared texts in file-name order), one thread.
/// </summary>
[MemoryDiagnoser]
public class MetaTokenBenchmarks
{
    private int[] ids = [];
    private int vocabulary;
    private MetaTokenSequence compressed = null!;
    private byte[] container = [];

    [Params("gain", "gain-fast", "greedy")]
    public string Strategy { get; set; } = "gain";

    [GlobalSetup]
    public void Setup()
    {
        ids = MetaTokenData.CorpusIds(1_000_000, ["cl100k_base"], out vocabulary);
        compressed = MetaTokenCompressor.Compress(ids, vocabulary, Options);
        container = MetaTokenContainer.Write(compressed, new TokenizerIdentity("cl100k_base", [1]));
    }

    private MetaTokenOptions Options => new()
    {
        Strategy = Strategy switch { "greedy" => MetaTokenStrategy.Greedy, "gain-fast" => MetaTokenStrategy.GainFast, _ => MetaTokenStrategy.Gain },
    };

    [Benchmark]
    public int Compress() => MetaTokenCompressor.Compress(ids, vocabulary, Options).OutputTokenCount;

    [Benchmark]
    public int Expand() => compressed.Expand().Length;

    [Benchmark]
    public int DecodeContainer() => MetaTokenContainer.Read(container).Sequence.Expand().Length;
}
