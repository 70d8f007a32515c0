using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Terse.Cli.Infrastructure;
using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Pretraining;
using Terse.Tokenization;
using Terse.Models;

namespace Terse.Cli.Commands;

/// <summary><c>terse lm pretrain</c>: train a base model that reads its context with Terse's recipe (docs/base-models.md).</summary>
public static class PretrainCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--output", "-o") { Description = "Run folder: checkpoint, log.jsonl, and model.bin at the end. An existing run is resumed.", Required = true };
        var data = new Option<string>("--data") { Description = "The text folder (laid out as ../shared/data/text); only its training split is read.", DefaultValueFactory = _ => DefaultDataFolder() };
        var teacher = new Option<string>("--teacher") { Description = "Teacher model for stories and soft targets (same vocabulary as the tokenizer).", DefaultValueFactory = _ => ModelResolver.DefaultFor("lm pretrain --teacher") };
        var tokenizer = new Option<string>("--tokenizer", "-t") { Description = "Tokenizer of the new model.", DefaultValueFactory = _ => "stories260K" };
        var inductionSteps = new Option<int?>("--induction-steps") { Description = $"Updates of the synthetic-copy stage (default {new BaseModelRecipe().InductionSteps})." }.AtLeast(0);
        var mixtureSteps = new Option<int?>("--mixture-steps") { Description = $"Updates of the mixture stage (default {new BaseModelRecipe().MixtureSteps})." }.AtLeast(0);
        var annealSteps = new Option<int?>("--anneal-steps") { Description = $"Updates of the anneal stage (default {new BaseModelRecipe().AnnealSteps})." }.AtLeast(0);
        var shape = new Option<string?>("--shape") { Description = "dim,hidden,layers,heads,kv_heads,seq_len (default 128,384,5,4,4,512)." };
        var teacherStories = new Option<int?>("--teacher-stories") { Description = "Stories sampled from the teacher." }.AtLeast(0);
        var seed = new Option<ulong>("--seed") { Description = "Seed of the weights, rows and teacher stories.", DefaultValueFactory = _ => 1UL };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Updates between checkpoints.", DefaultValueFactory = _ => 200 }.AtLeast(1);
        var probeEvery = new Option<int>("--probe-every") { Description = "Updates between development probes (copy test and bits/token; 0: only at the end).", DefaultValueFactory = _ => 500 }.AtLeast(0);
        var maxMinutes = new Option<double?>("--max-minutes") { Description = "Stop (with a checkpoint) after this many minutes; run again to resume." }.Require(v => v is null || v > 0, "a positive number");
        var threads = EngineThreads.CreateOption();
        var json = new Option<bool>("--json") { Description = "Print one JSON object at the end." };
        var command = new Command("pretrain", "Train a new base model that copies from its context: induction stage, a mixture of text, repeated passages and teacher stories, then an anneal.")
        {
            output, data, teacher, tokenizer, inductionSteps, mixtureSteps, annealSteps, shape, teacherStories, seed, checkpointEvery, probeEvery, maxMinutes, threads, json,
        };
        command.SetGuardedAction(parse =>
        {
            EngineThreads.Apply(parse.GetValue(threads));
            var vocabulary = TokenizerRegistry.Load(parse.GetValue(tokenizer)!);
            int bos = vocabulary.BosId ?? throw new CliException($"tokenizer '{vocabulary.Name}' has no BOS token");
            var recipe = new BaseModelRecipe { Seed = parse.GetValue(seed) };
            recipe = recipe with { Shape = recipe.Shape with { VocabSize = vocabulary.VocabularySize } };
            if (parse.GetValue(shape) is { } shapeText)
                recipe = recipe with { Shape = LmCommands.ParseShape(shapeText, vocabulary.VocabularySize) };
            if (parse.GetValue(inductionSteps) is { } i) recipe = recipe with { InductionSteps = i };
            if (parse.GetValue(mixtureSteps) is { } m) recipe = recipe with { MixtureSteps = m };
            if (parse.GetValue(annealSteps) is { } a) recipe = recipe with { AnnealSteps = a };
            if (parse.GetValue(teacherStories) is { } s) recipe = recipe with { TeacherStories = s };
            if (recipe.Problem() is { } problem)
                throw new CliException(problem);
            int every = parse.GetValue(checkpointEvery), probeSteps = parse.GetValue(probeEvery);
            if (every < 1) throw new CliException("--checkpoint-every must be ≥ 1");
            if (probeSteps < 0) throw new CliException("--probe-every must be ≥ 0");

            string dataFolder = parse.GetValue(data)!;
            if (!Directory.Exists(dataFolder))
                throw new CliException($"no such text folder: {dataFolder}");
            string run = parse.GetValue(output)!;
            Terse.IO.AtomicFile.CreateFolder(run);
            string checkpointPath = Path.Combine(run, "checkpoint.safetensors");
            string logPath = Path.Combine(run, "log.jsonl");

            var clock = Stopwatch.StartNew();
            var corpus = PretrainingCorpus.Load(dataFolder, Corpora.Split.Train, vocabulary);
            var teacherModel = ModelResolver.Load(parse.GetValue(teacher)!);
            var separators = new[] { "\n\n", "\n", " ", " | ", "\n---\n" }.Select(text => CopyTest.SeparatorIds(vocabulary, text)).ToArray();
            var trainer = new BaseModelTrainer(recipe, corpus, teacherModel, bos, separators);
            if (File.Exists(checkpointPath))
                trainer.LoadCheckpoint(checkpointPath);
            var probe = new DevelopmentProbe(dataFolder, vocabulary, bos);
            bool quiet = parse.GetValue(json);
            if (!quiet)
                Console.Error.WriteLine($"corpus: {corpus.Bytes:N0} bytes, {corpus.TokenCount:N0} tokens of training text; model {recipe.Shape.ParameterCount:N0} parameters; " +
                    (trainer.Step > 0 ? $"resuming at step {trainer.Step}/{recipe.TotalSteps}" : $"{recipe.TotalSteps} steps"));
            using var log = new StreamWriter(logPath, append: true);
            void Log(object entry)
            {
                log.WriteLine(JsonSerializer.Serialize(entry, CliIO.Json));
                log.Flush();
            }
            void Probe()
            {
                var result = probe.Measure(trainer.Model);
                Log(new { trainer.Step, Probe = true, CopyFirst = Math.Round(result.Copy.FirstBitsPerToken, 4), CopySecond = Math.Round(result.Copy.SecondBitsPerToken, 4),
                    BitsPerToken = result.BitsPerToken.ToDictionary(e => e.Key.ToString(), e => Math.Round(e.Value, 4)) });
                if (!quiet)
                    Console.Error.WriteLine($"probe at step {trainer.Step}: copy {result.Copy.FirstBitsPerToken:F3} → {result.Copy.SecondBitsPerToken:F3} bits/token; " +
                        string.Join(", ", result.BitsPerToken.Select(e => $"{e.Key} {e.Value:F3}")));
            }

            double? limit = parse.GetValue(maxMinutes) * 60;
            long tokens = 0;
            var window = new List<BaseModelStep>();
            bool interactive = ProgressReporter.IsInteractive && !quiet;
            int start = trainer.Step;
            ProgressReporter.Run("pretraining", recipe.TotalSteps - start, (progress, setLabel) =>
            {
                while (!trainer.Finished && !(clock.Elapsed.TotalSeconds > limit))
                {
                    var step = trainer.TrainStep();
                    tokens += step.Tokens;
                    window.Add(step);
                    progress.Report(trainer.Step - start);
                    setLabel($"{step.Stage} · loss {step.Loss:F3} · {tokens / clock.Elapsed.TotalSeconds:F0} tokens/s");
                    if (trainer.Step % 50 == 0 || trainer.Finished)
                    {
                        var kinds = window.SelectMany(w => w.KindLosses).GroupBy(e => e.Key).ToDictionary(g => g.Key.ToString(), g => Math.Round(g.Average(e => e.Value), 4));
                        Log(new { trainer.Step, step.Stage, Loss = Math.Round(window.Average(w => w.Loss), 4), Kinds = kinds, Lr = step.LearningRate,
                            Seconds = Math.Round(trainer.EarlierSeconds + clock.Elapsed.TotalSeconds, 1), TokensPerSecond = Math.Round(tokens / clock.Elapsed.TotalSeconds) });
                        if (!interactive && !quiet)
                            Console.Error.WriteLine($"step {trainer.Step}/{recipe.TotalSteps} ({step.Stage}): loss {window.Average(w => w.Loss):F4} " +
                                $"[{string.Join(", ", kinds.Select(e => $"{e.Key} {e.Value:F3}"))}], lr {step.LearningRate:G3}, {tokens / clock.Elapsed.TotalSeconds:F0} tokens/s");
                        window.Clear();
                    }
                    if (trainer.Step % every == 0 || trainer.Finished)
                        trainer.SaveCheckpoint(checkpointPath, clock.Elapsed.TotalSeconds);
                    if (probeSteps > 0 && trainer.Step % probeSteps == 0 && !trainer.Finished)
                        Probe();
                }
                return 0;
            });
            trainer.SaveCheckpoint(checkpointPath, clock.Elapsed.TotalSeconds);
            string modelPath = Path.Combine(run, "model.bin");
            if (trainer.Finished)
            {
                Probe();
                Llama2cCheckpoint.Save(trainer.Model, modelPath);
            }
            var summary = new
            {
                Steps = trainer.Step,
                TotalSteps = recipe.TotalSteps,
                Finished = trainer.Finished,
                Parameters = recipe.Shape.ParameterCount,
                Seconds = Math.Round(trainer.EarlierSeconds + clock.Elapsed.TotalSeconds, 1),
                Model = trainer.Finished ? modelPath : null,
                Checkpoint = checkpointPath,
            };
            if (quiet)
                CliIO.WriteJson(summary);
            else
                Console.Out.WriteLine(trainer.Finished
                    ? $"finished {summary.Steps} steps in {summary.Seconds:F0} s of training; wrote {modelPath}"
                    : $"stopped at step {summary.Steps}/{summary.TotalSteps}; run again to resume from {checkpointPath}");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>../shared/data/text beside the repository the CLI runs from, when there is one.</summary>
    internal static string DefaultDataFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "..", "shared", "data", "text");
            if (Directory.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "Terse.slnx")))
                return Path.GetFullPath(candidate);
        }
        return Path.Combine("..", "shared", "data", "text");
    }
}

/// <summary><c>terse lm copy-test</c>: the copy test of docs/base-models.md on the fixed splits of the text folder.</summary>
public static class CopyTestCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Model: a built-in name, a llama2.c .bin or a Hugging Face folder.", Required = true };
        var tokenizer = new Option<string?>("--tokenizer", "-t") { Description = "Tokenizer; default: the model's own." };
        var data = new Option<string>("--data") { Description = "The text folder (laid out as ../shared/data/text).", DefaultValueFactory = _ => PretrainCommand.DefaultDataFolder() };
        var split = new Option<string>("--split") { Description = "heldout (the reported figures) or development.", DefaultValueFactory = _ => "heldout" };
        split.AcceptOnlyFromAmong("heldout", "development");
        var passages = new Option<int>("--passages") { Description = "Passages per source.", DefaultValueFactory = _ => 100 }.AtLeast(1);
        var minTokens = new Option<int>("--min-tokens") { Description = "Shortest passage.", DefaultValueFactory = _ => 64 }.AtLeast(1);
        var maxTokens = new Option<int>("--max-tokens") { Description = "Longest passage.", DefaultValueFactory = _ => 200 }.AtLeast(1);
        var threads = EngineThreads.CreateOption();
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var command = new Command("copy-test", "Each passage twice in one window (BOS, passage, blank line, passage): bits/token of the first and of the second occurrence, per source.")
        {
            model, tokenizer, data, split, passages, minTokens, maxTokens, threads, json,
        };
        command.SetGuardedAction(parse =>
        {
            EngineThreads.Apply(parse.GetValue(threads));
            string modelName = parse.GetValue(model)!;
            var (loaded, vocabulary) = ModelResolver.LoadWithTokenizer(modelName, parse.GetValue(tokenizer));
            int bos = vocabulary.BosId ?? throw new CliException($"tokenizer '{vocabulary.Name}' has no BOS token");
            int count = parse.GetValue(passages), low = parse.GetValue(minTokens), high = parse.GetValue(maxTokens);
            if (count < 1 || low < 1 || high < low)
                throw new CliException("--passages, --min-tokens and --max-tokens must be ≥ 1, with --max-tokens ≥ --min-tokens");
            string folder = parse.GetValue(data)!;
            if (!Directory.Exists(folder))
                throw new CliException($"no such text folder: {folder}");
            var which = parse.GetValue(split) == "development" ? Corpora.Split.Development : Corpora.Split.HeldOut;
            var separator = CopyTest.SeparatorIds(vocabulary, CopyTest.DefaultSeparator);
            var rows = new List<(string Source, CopyTestResult Result)>();
            ProgressReporter.Run("copy test", DevelopmentProbe.CopyTestSources.Count, progress =>
            {
                foreach (var file in DevelopmentProbe.CopyTestSources)
                {
                    var chosen = CopyTest.Passages(folder, Corpora.TextCorpus.Source(file), which, vocabulary, count, low, high);
                    rows.Add((file, CopyTest.Run(loaded, [.. chosen.Select(p => p.Tokens)], bos, separator)));
                    progress.Report(rows.Count);
                }
                return 0;
            });
            double first = rows.Sum(r => r.Result.FirstBitsPerToken) / rows.Count, second = rows.Sum(r => r.Result.SecondBitsPerToken) / rows.Count;
            if (parse.GetValue(json))
                CliIO.WriteJson(new
                {
                    Model = ModelResolver.RecordedName(modelName),
                    Split = parse.GetValue(split),
                    Sources = rows.Select(r => new { r.Source, r.Result.Passages, r.Result.Tokens, First = Math.Round(r.Result.FirstBitsPerToken, 4), Second = Math.Round(r.Result.SecondBitsPerToken, 4) }),
                    MeanFirst = Math.Round(first, 4),
                    MeanSecond = Math.Round(second, 4),
                });
            else
            {
                foreach (var (source, result) in rows)
                    Console.Out.WriteLine($"{source,-36} {result.Passages,4} passages, {result.Tokens,6} tokens: first {result.FirstBitsPerToken:F3}, second {result.SecondBitsPerToken:F3} bits/token");
                Console.Out.WriteLine($"{"mean over sources",-36} first {first:F3}, second {second:F3} bits/token");
            }
            return ExitCodes.Success;
        });
        return command;
    }
}
