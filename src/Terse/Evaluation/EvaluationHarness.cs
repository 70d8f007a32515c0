using System.Diagnostics;
using Terse.Neural;
using Terse.Neural.Training;
using Terse.Pretraining;
using Terse.Tokenization;

namespace Terse.Evaluation;

/// <summary>The harness's tasks and the names of their scores.</summary>
public static class EvaluationTasks
{
    /// <summary>(a) the context restored from its compressed form: token accuracy, prefix match, exact match, BLEU-4.</summary>
    public const string Reconstruction = "reconstruction";

    /// <summary>(b) bits/token of the next tokens given the compressed context.</summary>
    public const string Continuation = "continuation";

    /// <summary>(c) extractive question answering from the compressed context (exact match, F1).</summary>
    public const string QuestionAnswering = "qa";

    /// <summary>(d) bits/token of a reference summary after the compressed document (<see cref="EvaluationItems.Summaries"/>).</summary>
    public const string Summary = "summary";

    public static IReadOnlyList<string> All { get; } = [Reconstruction, Continuation, QuestionAnswering, Summary];

    /// <summary>Score names; every score but bits/token is a percentage.</summary>
    public const string BitsPerToken = "bits_per_token", ExactMatch = "exact_match", F1 = "f1",
        TokenAccuracy = "token_accuracy", PrefixMatch = "prefix_match", SegmentExact = "segment_exact", Bleu4 = "bleu4";

    /// <summary>The score each task is plotted and ranked by, and whether higher is better.</summary>
    public static (string Score, bool HigherIsBetter) Primary(string task) => task switch
    {
        Reconstruction => (TokenAccuracy, true),
        Continuation or Summary => (BitsPerToken, false),
        QuestionAnswering => (F1, true),
        _ => throw new ArgumentException($"no task '{task}'"),
    };
}

/// <summary>A named set of settings; one suite reproduces one set of tables.</summary>
/// <param name="Readers">How readers are tuned on compressed contexts (<see cref="ReaderTuning"/>).</param>
/// <param name="ReaderWindows">Training windows (train split) the readers are tuned on.</param>
public sealed record EvaluationSuite(string Name, ItemSettings Items, IReadOnlyList<double> Rates, IReadOnlyList<string> Tasks,
    PrefixTuningSettings Readers, int ReaderWindows)
{
    /// <summary>Tiny settings for the test suite: a few items per source, one rate, readers tuned for two updates.</summary>
    public static EvaluationSuite Quick { get; } = new("quick",
        new ItemSettings(PerSource: 4, ContextTokens: 128, TargetTokens: 32, ReconstructionPerSource: 2, ReconstructionTokens: 64), [4], EvaluationTasks.All,
        new PrefixTuningSettings(Steps: 2, BatchSize: 2, WarmupSteps: 1), ReaderWindows: 8);

    /// <summary>The tables of docs/results.md.</summary>
    public static EvaluationSuite Full { get; } = new("full", new ItemSettings(), [2, 4, 8], EvaluationTasks.All, new PrefixTuningSettings(), ReaderWindows: 2000);

    public static IReadOnlyList<EvaluationSuite> All { get; } = [Quick, Full];

    public static EvaluationSuite Named(string name) =>
        All.FirstOrDefault(s => s.Name == name) ?? throw new ArgumentException($"no suite '{name}' (suites: {string.Join(", ", All.Select(s => s.Name))})");
}

/// <summary>
/// One method at one rate on one task and source: quality and cost, means over the items.
/// </summary>
/// <param name="Source">The source file (continuation, summary), the kind of question (qa), or <c>all</c> (reconstruction, whose items mix the sources).</param>
/// <param name="Rate">The target rate (context tokens per unit of code); null for methods with one natural rate.</param>
/// <param name="AchievedRate">Context tokens over code length (Σ over items; null when the code was empty).</param>
/// <param name="BoundRate">
/// The most an exact code in the base vocabulary could achieve on these contexts: log2|V| over the
/// base model's bits/token of the context (what the entropy coder reaches). A lossy method beyond it
/// must lose information.
/// </param>
/// <param name="Scores">The task's scores (<see cref="EvaluationTasks"/> names): bits/token, or percentages.</param>
/// <param name="ContextTokens">Mean tokens of context per item, before compression.</param>
/// <param name="ReaderTokens">Mean positions the reader processes per item (BOS, compressed context, lead or prompt, target or answer).</param>
/// <param name="ForwardGflops">Mean forward GFLOPs of the reader per item.</param>
/// <param name="AttentionGflops">The attention part of it.</param>
/// <param name="CompressMilliseconds">Mean time to compress one context.</param>
/// <param name="LatencyMilliseconds">Mean compression plus reading time per item, on this machine.</param>
public sealed record EvaluationRecord(
    string Task, string Source, string Method, double? Rate, double? AchievedRate, double BoundRate, int Items,
    IReadOnlyDictionary<string, double> Scores,
    double ContextTokens, double ReaderTokens, double ForwardGflops, double AttentionGflops, double CompressMilliseconds, double LatencyMilliseconds);

/// <summary>What a suite will run: its held-out items and every method × rate.</summary>
public sealed record EvaluationPlan(EvaluationSuite Suite, IReadOnlyList<ContinuationItem> Continuations, IReadOnlyList<QuestionItem> Questions,
    IReadOnlyList<ContinuationItem> Summaries, IReadOnlyList<int[]> Reconstructions, IReadOnlyList<(IContextMethod Method, double? Rate)> Runs)
{
    /// <summary>Item evaluations: each item once for its bound, then once per run.</summary>
    public long Steps => (1L + Runs.Count) * (Continuations.Count + Questions.Count + Summaries.Count + Reconstructions.Count);
}

/// <summary>
/// <c>terse eval</c>: every method on the same base model, on held-out items of every task, one
/// record per task × source × method × rate.
/// </summary>
public static class EvaluationHarness
{
    /// <summary>The methods that need nothing trained beyond the base model, in table order.</summary>
    public static IReadOnlyList<IContextMethod> BaseMethods(LlamaModel model, Tokenizer tokenizer) =>
    [
        new NoContext(model), new FullText(model), new Truncation(model, keepLast: false), new Truncation(model, keepLast: true),
        new SurprisalPruning(model, tokenizer, protectSpans: false), new SurprisalPruning(model, tokenizer, protectSpans: true),
        new MetaTokenReading(model, tokenizer),
    ];

    /// <summary>
    /// Tunes a reader (<see cref="ReaderTuning"/>, on the train split) for each method here that is
    /// read as it is at one natural rate: full text (the control: what tuning alone buys),
    /// meta-tokens (the seed's setting) and Z-tokens read as codes. Returns the tuned methods, named
    /// <c>…-tuned</c>; none when the suite tunes no reader. <paramref name="progress"/> counts updates.
    /// </summary>
    public static IReadOnlyList<IContextMethod> TuneReaders(IEnumerable<IContextMethod> methods, Tokenizer tokenizer, string textFolder, EvaluationSuite suite,
        IProgress<long>? progress = null)
    {
        var settings = suite.Readers;
        var toTune = methods.Where(Tunable).ToList();
        if (settings.Steps == 0 || toTune.Count == 0)
            return [];
        int bos = tokenizer.BosId ?? throw new ArgumentException($"tokenizer '{tokenizer.Name}' has no beginning-of-sequence token");
        var windows = EvaluationItems.TrainingWindows(textFolder, tokenizer, suite.Items, suite.ReaderWindows);
        var tuned = new List<IContextMethod>();
        long done = 0;
        foreach (var method in toTune)
        {
            string name = method.Name.Replace("-untuned", "", StringComparison.Ordinal) + "-tuned";
            var tuning = new ReaderTuning(method, "reader-" + name, windows, bos, settings);
            while (tuning.Step < settings.Steps)
            {
                tuning.TrainStep();
                progress?.Report(++done);
            }
            tuned.Add(tuning.Reader(name));
        }
        return tuned;
    }

    /// <summary>Reader updates <see cref="TuneReaders"/> will make for these methods.</summary>
    public static long TuningSteps(IEnumerable<IContextMethod> methods, EvaluationSuite suite) =>
        (long)suite.Readers.Steps * methods.Count(Tunable);

    private static bool Tunable(IContextMethod method) => method is FullText or MetaTokenReading or ZTokenReading;

    /// <summary>
    /// Builds the items of <paramref name="suite"/> (held-out only) and the method × rate runs of
    /// <paramref name="methods"/> (default: <see cref="BaseMethods"/>), all read through the same base model.
    /// </summary>
    public static EvaluationPlan Plan(LlamaModel model, Tokenizer tokenizer, string textFolder, EvaluationSuite suite, IReadOnlyList<IContextMethod>? methods = null)
    {
        if (tokenizer.VocabularySize != model.Config.VocabSize)
            throw new ArgumentException($"tokenizer '{tokenizer.Name}' has {tokenizer.VocabularySize} tokens but the model has {model.Config.VocabSize}");
        methods ??= BaseMethods(model, tokenizer);
        if (methods.Select(m => m.Name).Distinct().Count() != methods.Count)
            throw new ArgumentException($"two methods share a name: {string.Join(", ", methods.Select(m => m.Name))}");
        var runs = methods.SelectMany(m => m.TakesRate ? suite.Rates.Where(m.Accepts).Select(r => (m, (double?)r)) : [(m, null)]).ToList();
        bool Has(string task) => suite.Tasks.Contains(task);
        var continuations = Has(EvaluationTasks.Continuation) || Has(EvaluationTasks.Reconstruction)
            ? EvaluationItems.Continuations(textFolder, tokenizer, suite.Items) : [];
        var reconstructions = Has(EvaluationTasks.Reconstruction)
            ? continuations.GroupBy(i => i.Source).SelectMany(g => g.Take(suite.Items.ReconstructionPerSource))
                .Select(i => i.Context[..Math.Min(i.Context.Length, suite.Items.ReconstructionTokens)]).ToList()
            : [];
        return new EvaluationPlan(suite,
            Has(EvaluationTasks.Continuation) ? continuations : [],
            Has(EvaluationTasks.QuestionAnswering) ? EvaluationItems.Questions(textFolder, tokenizer, suite.Items) : [],
            Has(EvaluationTasks.Summary) ? EvaluationItems.Summaries(textFolder, tokenizer, suite.Items) : [],
            reconstructions, runs);
    }

    /// <summary>Runs a plan; <paramref name="progress"/> gets the count of item evaluations done (of <see cref="EvaluationPlan.Steps"/>).</summary>
    public static IReadOnlyList<EvaluationRecord> Run(LlamaModel model, Tokenizer tokenizer, EvaluationPlan plan, IProgress<long>? progress = null)
    {
        long done = 0;
        void Advance() => progress?.Report(++done);
        var reader = new ContextReader(tokenizer);
        var records = new List<EvaluationRecord>();
        var separator = CopyTest.SeparatorIds(tokenizer, "\n\n");

        // One task on one source: the bound over the items' contexts, then every run; evaluate scores
        // one item into the scorer and returns the positions the reader processed.
        void RunGroup<T, TScorer>(string task, string source, IReadOnlyList<T> items, Func<T, int[]> contextOf,
            Func<TScorer> newScorer, Func<T, CompressedContext, TScorer, int> evaluate) where TScorer : IScorer
        {
            double bits = 0;
            long tokens = 0;
            foreach (var item in items)
            {
                bits += reader.ContextBits(model, contextOf(item));
                tokens += contextOf(item).Length;
                Advance();
            }
            double bound = tokens * Math.Log2(model.Config.VocabSize) / bits;
            foreach (var (method, rate) in plan.Runs)
            {
                var cost = new CostTally();
                var scorer = newScorer();
                foreach (var item in items)
                {
                    var context = contextOf(item);
                    var clock = Stopwatch.StartNew();
                    var compressed = method.Compress(context, rate ?? 1);
                    double compressMs = clock.Elapsed.TotalMilliseconds;
                    clock.Restart();
                    int positions = evaluate(item, compressed, scorer);
                    cost.Add(context.Length, compressed.CodeLength, compressed.Input.Model.Config, positions, compressMs, clock.Elapsed.TotalMilliseconds);
                    Advance();
                }
                records.Add(cost.Record(task, source, method.Name, rate, bound, items.Count, scorer.Scores()));
            }
        }

        if (plan.Reconstructions.Count > 0)
            RunGroup(EvaluationTasks.Reconstruction, "all", plan.Reconstructions, c => c, () => new ReconstructionScorer(), (context, compressed, scorer) =>
            {
                if (compressed.Reconstruct is { } decode)
                {
                    scorer.Metrics.Add(context, decode());
                    return 0;
                }
                scorer.Metrics.Add(context, reader.Recite(compressed.Input, separator, context.Length));
                return 1 + compressed.Input.Positions + 2 * separator.Length + context.Length;
            });
        foreach (var (task, items) in new[] { (EvaluationTasks.Continuation, plan.Continuations), (EvaluationTasks.Summary, plan.Summaries) })
            foreach (var group in items.GroupBy(i => i.Source))
                RunGroup(task, group.Key, group.ToList(), i => i.Context, () => new BitsScorer(), (item, compressed, scorer) =>
                {
                    scorer.Add(reader.ContinuationBits(compressed.Input, item.Lead, item.Target), item.Target.Length);
                    return 1 + compressed.Input.Positions + item.Lead.Length + item.Target.Length;
                });
        foreach (var group in plan.Questions.GroupBy(i => i.Kind))
            RunGroup(EvaluationTasks.QuestionAnswering, group.Key, group.ToList(), i => i.Context, () => new AnswerScorer(), (item, compressed, scorer) =>
            {
                var (answer, positions) = reader.Answer(compressed.Input, item.Prompt);
                scorer.Metrics.Add(answer, item.Answers);
                return positions;
            });
        return records;
    }

    private interface IScorer
    {
        IReadOnlyDictionary<string, double> Scores();
    }

    private sealed class BitsScorer : IScorer
    {
        private double _bits;
        private long _tokens;

        public void Add(double bits, int tokens)
        {
            _bits += bits;
            _tokens += tokens;
        }

        public IReadOnlyDictionary<string, double> Scores() => new Dictionary<string, double> { [EvaluationTasks.BitsPerToken] = _bits / _tokens };
    }

    private sealed class AnswerScorer : IScorer
    {
        public AnswerMetrics Metrics { get; } = new();

        public IReadOnlyDictionary<string, double> Scores()
        {
            var score = Metrics.Score();
            return new Dictionary<string, double> { [EvaluationTasks.ExactMatch] = score.ExactMatch, [EvaluationTasks.F1] = score.F1 };
        }
    }

    private sealed class ReconstructionScorer : IScorer
    {
        public ReconstructionMetrics Metrics { get; } = new();

        public IReadOnlyDictionary<string, double> Scores()
        {
            var score = Metrics.Score();
            return new Dictionary<string, double>
            {
                [EvaluationTasks.TokenAccuracy] = 100 * score.TokenAccuracy,
                [EvaluationTasks.PrefixMatch] = 100 * score.PrefixMatch,
                [EvaluationTasks.SegmentExact] = 100 * score.ExactMatch,
                [EvaluationTasks.Bleu4] = 100 * score.Bleu4,
            };
        }
    }

    /// <summary>Sums of what the items of one run cost.</summary>
    private sealed class CostTally
    {
        private long _contextTokens, _codeLength, _readerTokens;
        private double _flops, _attention, _compressMs, _readMs;
        private int _items;

        /// <param name="positions">Positions the reader processed (0 when the method's own decoder did the work).</param>
        public void Add(int contextTokens, int codeLength, LlamaConfig reader, int positions, double compressMs, double readMs)
        {
            _contextTokens += contextTokens;
            _codeLength += codeLength;
            var cost = ForwardCost.Of(reader, positions);
            _flops += cost.Total;
            _attention += cost.Attention;
            _readerTokens += positions;
            _compressMs += compressMs;
            _readMs += readMs;
            _items++;
        }

        public EvaluationRecord Record(string task, string source, string method, double? rate, double bound, int items, IReadOnlyDictionary<string, double> scores) =>
            new(task, source, method, rate, _codeLength == 0 ? null : (double)_contextTokens / _codeLength, bound, items, scores,
                (double)_contextTokens / _items, (double)_readerTokens / _items, _flops / _items / 1e9, _attention / _items / 1e9,
                _compressMs / _items, (_compressMs + _readMs) / _items);
    }
}
