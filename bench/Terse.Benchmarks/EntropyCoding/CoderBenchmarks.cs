using BenchmarkDotNet.Attributes;
using Terse.EntropyCoding;

namespace Terse.Benchmarks.EntropyCoding;

/// <summary>
/// What the entropy coder itself costs per token, without any model: turning a logit vector into
/// a frequency table, and range-coding the token with it. Run:
/// <c>dotnet run -c Release --project bench/Terse.Benchmarks -- --filter '*CoderBenchmarks*' --job short</c>
/// </summary>
[MemoryDiagnoser]
public class CoderBenchmarks
{
    private const int Tokens = 256;
    private float[][] logits = [];
    private int[] symbols = [];
    private byte[] stream = [];
    private FrequencyTable table = null!;

    [Params(512, 32_000, 128_256)]
    public int Vocabulary { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        logits = Enumerable.Range(0, Tokens).Select(_ => Enumerable.Range(0, Vocabulary).Select(_ => (float)(random.NextDouble() * 12 - 6)).ToArray()).ToArray();
        symbols = Enumerable.Range(0, Tokens).Select(_ => random.Next(Vocabulary)).ToArray();
        table = new FrequencyTable(Vocabulary);
        var encoder = new RangeEncoder();
        for (int i = 0; i < Tokens; i++)
        {
            table.SetFromLogits(logits[i]);
            table.Encode(encoder, symbols[i]);
        }
        stream = encoder.Finish();
    }

    [Benchmark(OperationsPerInvoke = Tokens, Description = "table from logits (per token)")]
    public int TableFromLogits()
    {
        int sum = 0;
        for (int i = 0; i < Tokens; i++)
        {
            table.SetFromLogits(logits[i]);
            sum += table.Frequency(symbols[i]);
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Tokens, Description = "encode: table + range coder (per token)")]
    public int Encode()
    {
        var encoder = new RangeEncoder();
        for (int i = 0; i < Tokens; i++)
        {
            table.SetFromLogits(logits[i]);
            table.Encode(encoder, symbols[i]);
        }
        return encoder.Finish().Length;
    }

    [Benchmark(OperationsPerInvoke = Tokens, Description = "decode: table + range coder (per token)")]
    public int Decode()
    {
        var decoder = new RangeDecoder(stream);
        int sum = 0;
        for (int i = 0; i < Tokens; i++)
        {
            table.SetFromLogits(logits[i]);
            sum += table.Decode(ref decoder);
        }
        return sum;
    }
}
