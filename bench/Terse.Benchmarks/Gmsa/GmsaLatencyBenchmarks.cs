using BenchmarkDotNet.Attributes;
using Terse.Benchmarks.MetaTokens;
using Terse.Gmsa;
using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Tokenization;

namespace Terse.Benchmarks.Gmsa;

/// <summary>
/// End-to-end latency of answering from a context: a 256-token story context then 32 greedy
/// tokens on stories260K, with the context as tokens (baseline), as GMSA soft tokens compressed on
/// the spot (encoder k = 2 layers + LSA + shorter decoder prefill), and as soft tokens compressed
/// ahead of time (a cached context). Weights of the compressor do not change the cost, so an
/// untrained one is used.
/// </summary>
[MemoryDiagnoser]
public class GmsaLatencyBenchmarks
{
    private const int ContextTokens = 256, Generated = 32;
    private LlamaModel _model = null!;
    private GmsaModel _gmsa = null!;
    private int[] _context = [];
    private SoftContext _cached = null!;

    [Params(4, 8)]
    public int Rate { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _model = Llama2cCheckpoint.Load(Path.Combine(MetaTokenData.SharedData, "models", "stories260K.bin"));
        _gmsa = new GmsaModel(_model, new GmsaSettings(EncoderLayers: 2, Rates: [2, 4, 8], SegmentLength: 32));
        var text = File.ReadAllText(Path.Combine(MetaTokenData.SharedData, "text", "tinystories_valid_head.txt"));
        _context = TokenizerRegistry.Load("stories260K").Encode(text)[..ContextTokens];
        _cached = GmsaInference.Compress(_gmsa, _context, Rate);
    }

    [Benchmark(Baseline = true)]
    public int FullContext()
    {
        var session = _model.CreateSession(1 + ContextTokens + Generated);
        session.Prefill([1, .. _context]);
        return Greedy(session);
    }

    [Benchmark]
    public int SoftContextCompressedNow() => FromSoft(GmsaInference.Compress(_gmsa, _context, Rate));

    [Benchmark]
    public int SoftContextCached() => FromSoft(_cached);

    /// <summary>[BOS] + soft tokens prefilled as embeddings, then the same greedy loop as the baseline (no early stop).</summary>
    private int FromSoft(SoftContext soft)
    {
        int d = _model.Config.Dim;
        var rows = new float[(1 + soft.Count) * d];
        _model.Parameters[HuggingFaceLlamaNames.Embedding].Value.Span.Slice(1 * d, d).CopyTo(rows);
        soft.Values.CopyTo(rows, d);
        var session = _model.CreateSession(1 + soft.Count + Generated);
        session.PrefillEmbeddings(rows);
        return Greedy(session);
    }

    private static int Greedy(InferenceSession session)
    {
        int count = 0;
        var logits = session.Logits;
        for (int i = 0; i < Generated; i++)
        {
            int next = Sampler.ArgMax(logits);
            count++;
            if (i + 1 < Generated)
                logits = session.Step(next);
        }
        return count;
    }
}
