using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Terse.Models;
using Terse.Cli.Infrastructure;
using Terse.Gmsa;
using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Tokenization;

namespace Terse.Cli.Commands;

/// <summary>
/// <c>terse gmsa …</c>: GMSA soft-token context compression (learned and lossy, so not one of
/// <c>terse compress</c>' lossless methods).
/// </summary>
public static class GmsaCommands
{
    public static void AddTo(RootCommand root)
    {
        var gmsa = new Command("gmsa", "GMSA learned context compression into soft tokens (lossy: the decoder reads vectors, not the text; not a `terse compress` method).");
        gmsa.Subcommands.Add(TrainCommand());
        gmsa.Subcommands.Add(KeftCommand());
        gmsa.Subcommands.Add(EvalCommand());
        gmsa.Subcommands.Add(CompressCommand());
        gmsa.Subcommands.Add(GenerateCommand());
        root.Subcommands.Add(gmsa);
    }

    private static Option<string?> ModelOption(string fallback) => new("--model", "-m")
    {
        Description = $"Base model (a built-in name, llama2.c .bin or Hugging Face folder); {fallback}.",
    };

    private static Option<string?> TokenizerOption(string fallback) => new("--tokenizer", "-t") { Description = $"Tokenizer; {fallback}." };

    private static Option<bool> JsonOption() => new("--json") { Description = "Print one JSON object." };

    private static Argument<string> FolderArgument() => new("dir") { Description = "A GMSA folder written by `terse gmsa train`." };

    private static Command TrainCommand()
    {
        var model = ModelOption($"default: the built-in {ModelResolver.DefaultFor("gmsa train")}");
        var tokenizer = TokenizerOption("default: the model's own");
        var files = new Argument<string[]>("files") { Description = "Training text files.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--output", "-o") { Description = "Folder to write the compressor to.", Required = true };
        var layers = new Option<int>("--layers") { Description = "Encoder layers k (the base's first k layers + LoRA).", DefaultValueFactory = _ => 2 }.AtLeast(1);
        var lsaLayers = new Option<int>("--lsa-layers") { Description = "LSA blocks initialised from the decoder's first layers (0: no LSA, an ablation).", DefaultValueFactory = _ => 1 }.AtLeast(0);
        var merge = new Option<string>("--merge") { Description = "mean (GMSA group merging), last (ablation: last state of each group), memory (baseline: appended memory tokens, ICAE-style).", DefaultValueFactory = _ => "mean" };
        var rates = new Option<string>("--rates") { Description = "Compression rates sampled per training sample, comma-separated.", DefaultValueFactory = _ => "2,4,8" };
        var segment = new Option<int>("--segment") { Description = "Tokens per compressed segment.", DefaultValueFactory = _ => 32 }.AtLeast(1);
        var rank = new Option<int>("--rank") { Description = "Encoder LoRA rank (all seven projections of its layers).", DefaultValueFactory = _ => 16 };
        var decoderRank = new Option<int>("--decoder-rank")
        {
            Description = "Adaptation, not the paper's: also train a LoRA of this rank on the decoder's q, k, v during autoencoding (0: frozen decoder, as in the paper).",
            DefaultValueFactory = _ => 0,
        }.AtLeast(0);
        var common = new TrainingOptions(defaultSteps: 1000, defaultRate: 2e-3f);
        var threads = EngineThreads.CreateOption();
        var json = JsonOption();
        var command = new Command("train", "Autoencoder pretraining: the frozen decoder learns to reconstruct each segment from its soft tokens.")
        {
            model, tokenizer, files, output, layers, lsaLayers, merge, rates, segment, rank, decoderRank, threads, json,
        };
        common.AddTo(command);
        command.SetGuardedAction(parse =>
        {
            EngineThreads.Apply(parse.GetValue(threads));
            string modelSource = parse.GetValue(model) ?? ModelResolver.DefaultFor("gmsa train");
            string tokenizerSource = ModelResolver.TokenizerSource(parse.GetValue(tokenizer), modelSource);
            var decoder = ModelResolver.Load(modelSource);
            var vocabulary = ModelResolver.LoadTokenizer(tokenizerSource, modelSource, decoder.Config.VocabSize);
            if (!Enum.TryParse<MergeMode>(parse.GetValue(merge), ignoreCase: true, out var mode) || int.TryParse(parse.GetValue(merge), out _))
                throw new CliException($"--merge must be mean, last or memory, got '{parse.GetValue(merge)}'");
            int rankValue = parse.GetValue(rank);
            var settings = new GmsaSettings(parse.GetValue(layers), parse.GetValue(lsaLayers), mode, ParseRates(parse.GetValue(rates)!),
                parse.GetValue(segment), rankValue, 2f * rankValue);
            if (settings.Problem(decoder.Config) is { } problem)
                throw new CliException(problem);
            var corpus = Tokenize(vocabulary, parse.GetValue(files)!);
            var compressor = new GmsaModel(decoder, settings, common.Seed(parse)) { BaseModelSource = modelSource, TokenizerSource = tokenizerSource };
            int decoderRankValue = parse.GetValue(decoderRank);
            if (decoderRankValue < 0 || decoderRankValue > decoder.Config.Dim)
                throw new CliException($"--decoder-rank must be in 0..{decoder.Config.Dim}");
            if (decoderRankValue > 0)
            {
                compressor.AddKeft(decoderRankValue, 2f * decoderRankValue, common.Seed(parse));
                compressor.DecoderAdapterInAutoencoder = true;
            }
            var summary = Train(compressor, GmsaStage.Autoencoder, common.Settings(parse, 0), corpus, parse.GetValue(json));
            string folder = parse.GetValue(output)!;
            compressor.Save(folder);
            Report(parse.GetValue(json), summary with { Output = folder });
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command KeftCommand()
    {
        var folder = FolderArgument();
        var model = ModelOption("default: the one recorded in the folder");
        var tokenizer = TokenizerOption("default: the one recorded in the folder");
        var files = new Argument<string[]>("files") { Description = "Training text files (continuation task).", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string?>("--output", "-o") { Description = "Folder to write the fine-tuned compressor to (default: update dir)." };
        var continuation = new Option<int>("--continuation") { Description = "Tokens the decoder predicts after each compressed segment.", DefaultValueFactory = _ => 32 };
        var rank = new Option<int>("--rank") { Description = "LoRA rank on the decoder's q, k, v projections.", DefaultValueFactory = _ => 8 };
        var common = new TrainingOptions(defaultSteps: 500, defaultRate: 2e-3f);
        var threads = EngineThreads.CreateOption();
        var json = JsonOption();
        var command = new Command("keft", "Knowledge-extraction fine-tuning: LoRA on the decoder's q, k, v learns to continue a story from its soft tokens (encoder and LSA frozen; an adapter from --decoder-rank goes on training).")
        {
            folder, model, tokenizer, files, output, continuation, rank, threads, json,
        };
        common.AddTo(command);
        command.SetGuardedAction(parse =>
        {
            EngineThreads.Apply(parse.GetValue(threads));
            var (compressor, vocabulary) = Load(parse.GetValue(folder)!, parse.GetValue(model), parse.GetValue(tokenizer));
            int rankValue = parse.GetValue(rank);
            if (rankValue < 1 || rankValue > compressor.Decoder.Config.Dim)
                throw new CliException($"--rank must be in 1..{compressor.Decoder.Config.Dim}");
            // A decoder adapter trained during autoencoding (--decoder-rank) goes on training; else a new one.
            if (compressor.Keft is null)
                compressor.AddKeft(rankValue, 2f * rankValue, common.Seed(parse));
            else if (!compressor.DecoderAdapterInAutoencoder)
                throw new CliException("this compressor already has a KEFT adapter");
            var corpus = Tokenize(vocabulary, parse.GetValue(files)!);
            int continuationLength = parse.GetValue(continuation);
            if (continuationLength < 1 || 1 + compressor.Settings.MaxSoftTokens + continuationLength > compressor.Decoder.Config.MaxSequenceLength)
                throw new CliException($"--continuation must be in 1..{compressor.Decoder.Config.MaxSequenceLength - 1 - compressor.Settings.MaxSoftTokens}");
            var summary = Train(compressor, GmsaStage.Keft, common.Settings(parse, continuationLength), corpus, parse.GetValue(json));
            string target = parse.GetValue(output) ?? parse.GetValue(folder)!;
            compressor.Save(target);
            Report(parse.GetValue(json), summary with { Output = target });
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command EvalCommand()
    {
        var folder = FolderArgument();
        var file = new Argument<string>("file") { Description = "Held-out text (not trained on)." };
        var model = ModelOption("default: the one recorded in the folder");
        var tokenizer = TokenizerOption("default: the one recorded in the folder");
        var rate = new Option<int[]>("--rate") { Description = "Compression rate(s) to evaluate (default: each training rate).", AllowMultipleArgumentsPerToken = true };
        var task = new Option<string>("--task") { Description = "reconstruct (autoencoding) or continue (story continuation from soft context).", DefaultValueFactory = _ => "reconstruct" };
        var samples = new Option<int>("--samples") { Description = "Held-out segments (non-overlapping, from the start of the file).", DefaultValueFactory = _ => 100 }.AtLeast(1);
        var continuation = new Option<int>("--continuation") { Description = "Continuation tokens for --task continue.", DefaultValueFactory = _ => 32 };
        var threads = EngineThreads.CreateOption();
        var json = JsonOption();
        var command = new Command("eval", "Held-out evaluation: reconstruction accuracy and cross-entropy per rate, or continuation cross-entropy with soft / full / no context.")
        {
            folder, file, model, tokenizer, rate, task, samples, continuation, threads, json,
        };
        command.SetGuardedAction(parse =>
        {
            EngineThreads.Apply(parse.GetValue(threads));
            var (compressor, vocabulary) = Load(parse.GetValue(folder)!, parse.GetValue(model), parse.GetValue(tokenizer));
            var corpus = Tokenize(vocabulary, [parse.GetValue(file)!]);
            int count = parse.GetValue(samples);
            if (count < 1)
                throw new CliException("--samples must be ≥ 1");
            var rates = parse.GetValue(rate) is { Length: > 0 } chosen ? chosen : compressor.Settings.TrainingRates.ToArray();
            int segment = compressor.Settings.SegmentLength;
            foreach (int r in rates)
                if (!compressor.Settings.Accepts(r))
                    throw new CliException($"rate {r} does not fit this compressor (segment {segment}, rates {string.Join(",", compressor.Settings.TrainingRates)})");
            var clock = Stopwatch.StartNew();
            string taskName = parse.GetValue(task)!;
            object results;
            if (taskName == "reconstruct")
            {
                results = ProgressReporter.Run("reconstructing", (long)rates.Length * count, progress =>
                {
                    var list = new List<ReconstructionResult>();
                    foreach (int r in rates)
                    {
                        int offset = list.Count * count;
                        list.Add(GmsaEvaluation.Reconstruction(compressor, corpus, r, count, new Progress(done => progress.Report(offset + done))));
                    }
                    return list;
                });
                if (!parse.GetValue(json))
                    foreach (var r in (List<ReconstructionResult>)results)
                        Console.Out.WriteLine($"rate {r.Rate} ({r.SoftTokensPerSegment} soft tokens for {segment} tokens), {r.Segments} held-out segments: " +
                            $"token accuracy {r.TokenAccuracy:P1} greedy, {r.TeacherForcedAccuracy:P1} teacher-forced, prefix {r.PrefixMatch:P1}, BLEU-4 {r.Bleu4:F3}, exact {r.ExactMatch:P1}, cross-entropy {r.CrossEntropy:F4} nats/token " +
                            $"(no context {r.NoContextCrossEntropy:F4}: {r.BitsPerSoftToken:F2} bits per soft token)");
            }
            else if (taskName == "continue")
            {
                int length = parse.GetValue(continuation);
                if (length < 1 || 1 + segment + length > compressor.Decoder.Config.MaxSequenceLength)
                    throw new CliException($"--continuation must be in 1..{compressor.Decoder.Config.MaxSequenceLength - 1 - segment}");
                results = ProgressReporter.Run("continuing", (long)rates.Length * count, progress =>
                {
                    var list = new List<ContinuationResult>();
                    foreach (int r in rates)
                    {
                        int offset = list.Count * count;
                        list.Add(GmsaEvaluation.Continuation(compressor, corpus, r, length, count, new Progress(done => progress.Report(offset + done))));
                    }
                    return list;
                });
                if (!parse.GetValue(json))
                    foreach (var r in (List<ContinuationResult>)results)
                        Console.Out.WriteLine($"rate {r.Rate}, {r.Samples} held-out samples, {r.ContinuationTokens} tokens after {r.ContextTokens}: nats/token " +
                            $"soft {r.SoftNats:F4}{(r.SoftKeftNats is { } k ? $", soft+KEFT {k:F4} (KEFT with no context {r.NoContextKeftNats:F4}, with another sample's soft tokens {r.MismatchedSoftKeftNats:F4})" : "")}, full context {r.FullContextNats:F4}, no context {r.NoContextNats:F4}; " +
                            $"decoder positions {r.SoftDecoderPositions} vs {r.FullDecoderPositions}, {r.SoftMegaMultiplyAdds:F2} vs {r.FullMegaMultiplyAdds:F2} M multiply-adds");
            }
            else
                throw new CliException($"--task must be reconstruct or continue, got '{taskName}'");
            if (parse.GetValue(json))
                CliIO.WriteJson(new { Task = taskName, Seconds = Math.Round(clock.Elapsed.TotalSeconds, 2), Results = results });
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command CompressCommand()
    {
        var folder = FolderArgument();
        var file = new Argument<string?>("file") { Description = "Text to compress (default: stdin).", Arity = ArgumentArity.ZeroOrOne };
        var output = new Option<string>("--output", "-o") { Description = "Soft-token file to write (.safetensors).", Required = true };
        var model = ModelOption("default: the one recorded in the folder");
        var tokenizer = TokenizerOption("default: the one recorded in the folder");
        var rate = new Option<int?>("--rate") { Description = "Compression rate (default: the compressor's middle training rate)." }.AtLeast(1);
        var json = JsonOption();
        var command = new Command("compress", "Compress a text into soft tokens (lossy; a tensor file, not text).")
        {
            folder, file, output, model, tokenizer, rate, json,
        };
        command.SetGuardedAction(parse =>
        {
            var (compressor, vocabulary) = Load(parse.GetValue(folder)!, parse.GetValue(model), parse.GetValue(tokenizer));
            var bytes = CliIO.ReadAllBytes(parse.GetValue(file));
            var tokens = vocabulary.Encode(Encoding.UTF8.GetString(bytes));
            if (tokens.Length == 0)
                throw new CliException("the text is empty");
            int r = CheckRate(compressor, parse.GetValue(rate));
            var context = GmsaInference.Compress(compressor, tokens, r);
            string path = parse.GetValue(output)!;
            SoftTokenFile.Write(path, context, compressor.Decoder.ComputeIdentity());
            if (parse.GetValue(json))
                CliIO.WriteJson(new { Output = path, Tokens = tokens.Length, SoftTokens = context.Count, context.Rate, context.Dim, Bytes = new FileInfo(path).Length });
            else
                Console.Out.WriteLine($"{tokens.Length} tokens → {context.Count} soft tokens of width {context.Dim} (rate {r}): {path}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command GenerateCommand()
    {
        var folder = FolderArgument();
        var context = new Option<string>("--context", "-c") { Description = "Context: a soft-token file from `terse gmsa compress`, or a text file (compressed first).", Required = true };
        var prompt = new Option<string>("--prompt", "-p") { Description = "Text after the soft tokens (default: none).", DefaultValueFactory = _ => "" };
        var model = ModelOption("default: the one recorded in the folder");
        var tokenizer = TokenizerOption("default: the one recorded in the folder");
        var rate = new Option<int?>("--rate") { Description = "Compression rate for a text context (default: the middle training rate)." }.AtLeast(1);
        var steps = new Option<int>("--steps", "-n") { Description = "Tokens to generate at most.", DefaultValueFactory = _ => 64 };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature; 0 = greedy.", DefaultValueFactory = _ => 0f }.NonNegative();
        var seed = new Option<ulong>("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => 1UL };
        var json = JsonOption();
        var command = new Command("generate", "Continue from soft tokens (with the KEFT adapter when the compressor has one).")
        {
            folder, context, prompt, model, tokenizer, rate, steps, temperature, seed, json,
        };
        command.SetGuardedAction(parse =>
        {
            var (compressor, vocabulary) = Load(parse.GetValue(folder)!, parse.GetValue(model), parse.GetValue(tokenizer));
            string contextPath = parse.GetValue(context)!;
            SoftContext soft;
            if (contextPath.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            {
                if (!File.Exists(contextPath))
                    throw new CliException($"no such file: {contextPath}");
                (soft, string identity) = SoftTokenFile.Read(contextPath);
                if (identity != Convert.ToHexStringLower(compressor.Decoder.ComputeIdentity()))
                    throw new CliException($"{contextPath} was made for another base model");
                if (soft.Dim != compressor.Decoder.Config.Dim)
                    throw new CliException($"{contextPath} holds soft tokens of width {soft.Dim}; the model's is {compressor.Decoder.Config.Dim}");
            }
            else
            {
                var tokens = vocabulary.Encode(CliIO.ReadAllText(contextPath));
                if (tokens.Length == 0)
                    throw new CliException("the context is empty");
                soft = GmsaInference.Compress(compressor, tokens, CheckRate(compressor, parse.GetValue(rate)));
            }
            int count = parse.GetValue(steps);
            if (count < 1)
                throw new CliException("--steps must be ≥ 1");
            if (parse.GetValue(seed) == 0)
                throw new CliException("--seed must be non-zero");
            var promptTokens = vocabulary.Encode(parse.GetValue(prompt)!);
            if (1 + soft.Count + promptTokens.Length >= compressor.Decoder.Config.MaxSequenceLength)
                throw new CliException($"{soft.Count} soft tokens and {promptTokens.Length} prompt tokens leave no room in the model's {compressor.Decoder.Config.MaxSequenceLength} positions");
            var sampler = new Sampler(parse.GetValue(temperature), 0.9f, parse.GetValue(seed));
            var generated = GmsaInference.Generate(compressor, soft, promptTokens, count, sampler);
            string text = vocabulary.Decode([.. promptTokens, .. generated]);
            if (parse.GetValue(json))
                CliIO.WriteJson(new { Text = text, SoftTokens = soft.Count, PromptTokens = promptTokens.Length, GeneratedTokens = generated.Count, Keft = compressor.Keft is not null });
            else
                Console.Out.WriteLine(text);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Options shared by the two training commands.</summary>
    private sealed class TrainingOptions(int defaultSteps, float defaultRate)
    {
        private readonly Option<int> _steps = new("--steps") { Description = "Optimizer updates.", DefaultValueFactory = _ => defaultSteps };
        private readonly Option<int> _batch = new("--batch") { Description = "Samples per update.", DefaultValueFactory = _ => 16 };
        private readonly Option<float> _rate = new("--lr") { Description = "Peak learning rate (warm-up, then cosine decay to a tenth).", DefaultValueFactory = _ => defaultRate };
        private readonly Option<int> _seed = new("--seed") { Description = "Seed of sampling and new weights.", DefaultValueFactory = _ => 1 };

        public void AddTo(Command command)
        {
            command.Options.Add(_steps);
            command.Options.Add(_batch);
            command.Options.Add(_rate);
            command.Options.Add(_seed);
        }

        public int Seed(ParseResult parse) => parse.GetValue(_seed);

        public GmsaTrainingSettings Settings(ParseResult parse, int continuation)
        {
            int steps = parse.GetValue(_steps), batch = parse.GetValue(_batch);
            float rate = parse.GetValue(_rate);
            if (steps < 1) throw new CliException("--steps must be ≥ 1");
            if (batch < 1 || batch > 1024) throw new CliException("--batch must be in 1..1024");
            if (!(rate > 0) || !float.IsFinite(rate)) throw new CliException("--lr must be positive");
            return new GmsaTrainingSettings
            {
                Steps = steps,
                BatchSize = batch,
                LearningRate = rate,
                MinLearningRate = rate / 10,
                WarmupSteps = Math.Max(1, steps / 20),
                ContinuationLength = Math.Max(1, continuation),
                Seed = parse.GetValue(_seed),
            };
        }
    }

    private sealed record TrainingSummary(string Stage, int Steps, double FirstLoss, double LastLoss, double Seconds, string? Output = null);

    private static TrainingSummary Train(GmsaModel compressor, GmsaStage stage, GmsaTrainingSettings settings, int[] corpus, bool json)
    {
        if (corpus.Length < compressor.Settings.SegmentLength + (stage == GmsaStage.Keft ? settings.ContinuationLength : 0))
            throw new CliException($"the training text has {corpus.Length} tokens; too few for one sample");
        var trainer = new GmsaTrainer(compressor, stage, settings, corpus);
        var losses = new List<float>();
        var clock = Stopwatch.StartNew();
        bool interactive = ProgressReporter.IsInteractive && !json;
        ProgressReporter.Run("training", settings.Steps, (progress, setLabel) =>
        {
            while (trainer.Step < settings.Steps)
            {
                var step = trainer.TrainStep();
                losses.Add(step.Loss);
                progress.Report(step.Step);
                setLabel($"{stage} · loss {step.Loss:F3}");
                if (!interactive && !json && (step.Step % 50 == 0 || step.Step == settings.Steps))
                    Console.Error.WriteLine($"step {step.Step}/{settings.Steps}: loss {losses.TakeLast(50).Average():F4}, lr {step.LearningRate:G3}");
            }
            return 0;
        });
        return new TrainingSummary(stage.ToString().ToLowerInvariant(), trainer.Step, Math.Round(losses[0], 4),
            Math.Round(losses.TakeLast(Math.Min(50, losses.Count)).Average(), 4), Math.Round(clock.Elapsed.TotalSeconds, 1));
    }

    private static void Report(bool json, TrainingSummary summary)
    {
        if (json)
            CliIO.WriteJson(summary);
        else
            Console.Out.WriteLine($"{summary.Stage}: {summary.Steps} steps in {summary.Seconds:F1} s, loss {summary.FirstLoss:F4} → {summary.LastLoss:F4} (mean of the last 50): {summary.Output}");
    }

    /// <summary>Loads a compressor folder onto a fresh instance of its base model (the one recorded, or <paramref name="model"/>).</summary>
    internal static (GmsaModel Compressor, Tokenizer Tokenizer) Load(string folder, string? model, string? tokenizer)
    {
        if (!Directory.Exists(folder))
            throw new CliException($"no such GMSA folder: {folder}");
        var (recordedModel, recordedTokenizer) = GmsaModel.ReadSources(folder);
        string modelSource = model ?? recordedModel ?? throw new CliException("the folder records no base model: pass --model");
        string tokenizerSource = tokenizer ?? recordedTokenizer ?? throw new CliException("the folder records no tokenizer: pass --tokenizer");
        var decoder = ModelResolver.Load(modelSource);
        return (GmsaModel.Load(decoder, folder), ModelResolver.LoadTokenizer(tokenizerSource, modelSource, decoder.Config.VocabSize));
    }

    private static int[] Tokenize(Tokenizer tokenizer, IEnumerable<string> files) =>
        files.SelectMany(path => tokenizer.Encode(CliIO.ReadAllText(path))).ToArray();

    private static int[] ParseRates(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0 || !parts.All(p => int.TryParse(p, out int r) && r >= 1))
            throw new CliException($"--rates is a comma-separated list of positive integers, got '{text}'");
        return parts.Select(int.Parse).Distinct().Order().ToArray();
    }

    private static int CheckRate(GmsaModel compressor, int? rate)
    {
        var rates = compressor.Settings.TrainingRates.Order().ToArray();
        int r = rate ?? rates[rates.Length / 2];
        int segment = compressor.Settings.SegmentLength;
        if (!compressor.Settings.Accepts(r))
            throw new CliException($"rate {r} does not fit this compressor (segment {segment}, trained rates {string.Join(",", rates)})");
        return r;
    }

    private sealed class Progress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
