using Terse.Corpora;
using Terse.Neural;
using Terse.Neural.Training;
using Terse.Tokenization;

namespace Terse.Pretraining;

/// <summary>What a <see cref="DevelopmentProbe"/> measured.</summary>
/// <param name="Copy">The copy test on development passages.</param>
/// <param name="BitsPerToken">Development bits/token per domain (a fixed slice of each).</param>
public sealed record ProbeResult(CopyTestResult Copy, IReadOnlyDictionary<TextDomain, double> BitsPerToken);

/// <summary>
/// A quick look at a model during training, on development text only (never on held-out text):
/// the copy test on a few passages of each domain that has them, and bits/token on the first
/// tokens of each domain's development split.
/// </summary>
public sealed class DevelopmentProbe
{
    private readonly IReadOnlyList<int[]> _passages;
    private readonly int[] _separator;
    private readonly Dictionary<TextDomain, int[]> _slices;
    private readonly int _bos;

    public DevelopmentProbe(string textFolder, Tokenizer tokenizer, int bos, int passagesPerSource = 8, int sliceTokens = 4096)
    {
        _bos = bos;
        _separator = CopyTest.SeparatorIds(tokenizer, CopyTest.DefaultSeparator);
        _passages = [.. CopyTestSources.Select(TextCorpus.Source)
            .SelectMany(source => CopyTest.Passages(textFolder, source, Split.Development, tokenizer, passagesPerSource, 64, 160))
            .Select(p => p.Tokens)];
        var development = PretrainingCorpus.Load(textFolder, Split.Development, tokenizer);
        _slices = development.Domains.ToDictionary(d => d, d => development.Tokens(d)[..Math.Min(sliceTokens, development.Tokens(d).Length)].ToArray());
    }

    /// <summary>The sources the copy test draws from (the four: stories, Wikipedia, news, HotpotQA).</summary>
    public static IReadOnlyList<string> CopyTestSources { get; } =
        ["tinystories_valid_head.txt", "wikitext2_raw_test.txt", "cnndm_test100.source", TextCorpus.HotpotQaFile];

    public ProbeResult Measure(LlamaModel model, int window = 256)
    {
        var copy = CopyTest.Run(model, _passages, _bos, _separator);
        var bits = _slices.ToDictionary(e => e.Key, e => Perplexity.CrossEntropy(model, e.Value, _bos, window: Math.Min(window, model.Config.MaxSequenceLength)).BitsPerToken);
        return new ProbeResult(copy, bits);
    }
}
