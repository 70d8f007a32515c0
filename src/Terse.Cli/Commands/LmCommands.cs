using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Terse.Cli.Infrastructure;
using Terse.Models;
using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Neural.Numerics;
using Terse.Neural.Training;
using Terse.Tokenization;
using Terse.Tokenization.Llama2c;

namespace Terse.Cli.Commands;

/// <summary><c>terse lm …</c>: run, evaluate, train and convert Llama-family models on the CPU engine.</summary>
public static class LmCommands
{
    public static void AddTo(RootCommand root)
    {
        var lm = new Command("lm", "Run, evaluate, train and convert Llama-family language models on the CPU.");
        lm.Subcommands.Add(GenerateCommand());
        lm.Subcommands.Add(EvalCommand());
        lm.Subcommands.Add(TrainCommand());
        lm.Subcommands.Add(ConvertCommand());
        lm.Subcommands.Add(PretrainCommand.Create());
        lm.Subcommands.Add(CopyTestCommand.Create());
        root.Subcommands.Add(lm);
    }

    private static Option<string> ModelOption(bool required = true) => new("--model", "-m")
    {
        Description = "Model: a built-in name (`terse models`), a llama2.c .bin, or a Hugging Face folder (config.json + model.safetensors, or shards with model.safetensors.index.json).",
        Required = required,
    };

    private static Option<string?> TokenizerOption() => new("--tokenizer", "-t")
    {
        Description = "Tokenizer: a built-in name, llama2.c tokenizer.bin, SentencePiece .model or any file `terse tokenizers` lists; default: the model's own (built-in models, Hugging Face folders with a tokenizer file).",
    };

    private static Option<string?> AdapterOption() => new("--adapter") { Description = "A LoRA adapter folder (adapter_config.json + adapter_model.safetensors) to apply." };

    private static Option<bool> JsonOption() => new("--json") { Description = "Print one JSON object." };

    private static Command GenerateCommand()
    {
        var model = ModelOption();
        var tokenizer = TokenizerOption();
        var adapter = AdapterOption();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Text to continue (default: empty, i.e. start from BOS)." };
        var steps = new Option<int>("--steps", "-n")
        {
            Description = "Positions to run, counting BOS and the prompt tokens, as llama2.c's run.c; 0 = the model's length.",
            DefaultValueFactory = _ => 256,
        };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature; 0 = greedy (deterministic).", DefaultValueFactory = _ => 1.0f }.NonNegative();
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling threshold; 1 or 0 = off.", DefaultValueFactory = _ => 0.9f }.InRange(0f, 1f);
        var seed = new Option<ulong?>("--seed") { Description = "Random seed (default: from the clock)." };
        var threads = EngineThreads.CreateOption();
        var json = JsonOption();
        var command = new Command("generate", "Continue a prompt; the output matches llama2.c's run.c byte for byte.")
        {
            model, tokenizer, adapter, prompt, steps, temperature, topP, seed, threads, json,
        };
        command.SetGuardedAction(parse =>
        {
            EngineThreads.Apply(parse.GetValue(threads));
            int stepCount = parse.GetValue(steps);
            if (stepCount < 0)
                throw new CliException($"--steps must be ≥ 0, got {stepCount}");
            var (loaded, vocabulary) = ModelResolver.LoadWithTokenizer(parse.GetValue(model)!, parse.GetValue(tokenizer));
            var lora = LoadAdapter(loaded, parse.GetValue(adapter));
            ulong seedValue = parse.GetValue(seed) ?? (ulong)DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            if (seedValue == 0)
                throw new CliException("--seed must be non-zero");
            var sampler = new Sampler(parse.GetValue(temperature), parse.GetValue(topP), seedValue);
            bool asJson = parse.GetValue(json);
            var text = new MemoryStream();
            using var stdout = asJson ? null : Console.OpenStandardOutput();
            var result = TextGeneration.Generate(loaded, vocabulary, parse.GetValue(prompt) ?? "", stepCount, sampler, bytes =>
            {
                text.Write(bytes);
                if (stdout is not null)
                {
                    stdout.Write(bytes);
                    stdout.Flush();
                }
            }, lora);
            if (asJson)
            {
                CliIO.WriteJson(new
                {
                    Text = Encoding.UTF8.GetString(text.ToArray()),
                    Tokens = result.Tokens,
                    PromptTokens = result.PromptTokens,
                    GeneratedTokens = result.Tokens.Count - result.PromptTokens,
                    StoppedAtBos = result.StoppedAtBos,
                    StoppedAtEos = result.StoppedAtEos,
                    Seconds = Math.Round(result.Seconds, 4),
                    TokensPerSecond = result.Seconds > 0 ? Math.Round((result.Tokens.Count - 1) / result.Seconds, 1) : 0,
                });
            }
            else
            {
                stdout!.Write("\n"u8);
                stdout.Flush();
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command EvalCommand()
    {
        var model = ModelOption();
        var tokenizer = TokenizerOption();
        var adapter = AdapterOption();
        var file = new Argument<string?>("file") { Description = "Text to score (default: stdin).", Arity = ArgumentArity.ZeroOrOne };
        var window = new Option<int?>("--window") { Description = "Context window in tokens, BOS included (default: the model's length; never more than the text needs)." }.AtLeast(2);
        var threads = EngineThreads.CreateOption();
        var json = JsonOption();
        var command = new Command("eval", "Cross-entropy of a text: nats/token, bits/token and bits/byte.")
        {
            model, tokenizer, adapter, file, window, threads, json,
        };
        command.SetGuardedAction(parse =>
        {
            EngineThreads.Apply(parse.GetValue(threads));
            var (loaded, vocabulary) = ModelResolver.LoadWithTokenizer(parse.GetValue(model)!, parse.GetValue(tokenizer));
            var lora = LoadAdapter(loaded, parse.GetValue(adapter));
            var bytes = CliIO.ReadAllBytes(parse.GetValue(file));
            var tokens = Tokenize(vocabulary, bytes);
            if (tokens.Length == 0)
                throw new CliException("the text is empty");
            int bos = vocabulary.BosId ?? throw new CliException($"tokenizer '{vocabulary.Name}' has no BOS token");
            var clock = Stopwatch.StartNew();
            var result = ProgressReporter.Run("scoring", 1, _ => Perplexity.CrossEntropy(loaded, tokens, bos, bytes.Length, parse.GetValue(window), lora));
            if (parse.GetValue(json))
                CliIO.WriteJson(new
                {
                    Tokens = result.Tokens,
                    Bytes = result.Bytes,
                    NatsPerToken = Math.Round(result.NatsPerToken, 6),
                    BitsPerToken = Math.Round(result.BitsPerToken, 6),
                    BitsPerByte = Math.Round(result.BitsPerByte, 6),
                    Window = Math.Min(parse.GetValue(window) ?? loaded.Config.MaxSequenceLength, tokens.Length + 1),
                    Seconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
                });
            else
                Console.Out.WriteLine($"{result.Tokens} tokens, {result.Bytes} bytes: {result.NatsPerToken:F4} nats/token, " +
                    $"{result.BitsPerToken:F4} bits/token, {result.BitsPerByte:F4} bits/byte");
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command TrainCommand()
    {
        var model = ModelOption(required: false);
        var tokenizer = TokenizerOption();
        var data = new Argument<string[]>("files") { Description = "Training text files.", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--output", "-o") { Description = "Where to write the result: a LoRA adapter folder, or a model (.bin, or a folder for Hugging Face).", Required = true };
        var loraRank = new Option<int>("--lora-rank") { Description = "Train a LoRA adapter of this rank on a frozen base (0: train every weight).", DefaultValueFactory = _ => 0 }.AtLeast(0);
        var loraAlpha = new Option<float?>("--lora-alpha") { Description = "LoRA alpha (default: 2 × rank)." }.Require(v => v is null || (v > 0 && float.IsFinite(v.Value)), "a positive number");
        var loraDropout = new Option<float>("--lora-dropout") { Description = "LoRA dropout.", DefaultValueFactory = _ => 0f }.Require(v => v >= 0 && v < 1, "in 0..1 (1 excluded)");
        var loraTargets = new Option<string>("--lora-targets") { Description = "Comma-separated projections: q,k,v,o,gate,up,down.", DefaultValueFactory = _ => "q,k,v,o,gate,up,down" };
        var shape = new Option<string?>("--shape") { Description = "Train from scratch: dim,hidden,layers,heads,kv_heads,seq_len (vocabulary from the tokenizer)." };
        var steps = new Option<int>("--steps") { Description = "Optimizer updates.", DefaultValueFactory = _ => 200 };
        var batch = new Option<int>("--batch") { Description = "Sequences per micro-batch.", DefaultValueFactory = _ => 8 }.AtLeast(1);
        var sequence = new Option<int?>("--seq") { Description = "Tokens per sequence (default: min(256, the model's length))." }.AtLeast(2);
        var accumulation = new Option<int>("--accumulation") { Description = "Micro-batches per update.", DefaultValueFactory = _ => 1 }.AtLeast(1);
        var rate = new Option<float>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => 1e-3f }.Positive();
        var minRate = new Option<float?>("--min-lr") { Description = "Final learning rate (default: lr / 10)." }.Require(v => v is null || (v >= 0 && float.IsFinite(v.Value)), "≥ 0");
        var warmup = new Option<int?>("--warmup") { Description = "Warm-up updates (default: 5% of the steps)." }.AtLeast(0);
        var decay = new Option<float>("--weight-decay") { Description = "AdamW weight decay.", DefaultValueFactory = _ => 0.1f }.NonNegative();
        var clip = new Option<float>("--clip") { Description = "Gradient-norm clip (0: off).", DefaultValueFactory = _ => 1f }.NonNegative();
        var seed = new Option<ulong>("--seed") { Description = "Seed of batch sampling, dropout and new weights.", DefaultValueFactory = _ => 1UL };
        var validation = new Option<string?>("--validation") { Description = "A held-out text file scored before and after training." };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Checkpoint file: resumed from when it exists, written every --checkpoint-every updates and at the end." };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Updates between checkpoints.", DefaultValueFactory = _ => 100 }.AtLeast(1);
        var threads = EngineThreads.CreateOption();
        var json = JsonOption();
        var command = new Command("train", "Fine-tune (LoRA or full) or train from scratch on text files.")
        {
            model, tokenizer, data, output, loraRank, loraAlpha, loraDropout, loraTargets, shape, steps, batch, sequence, accumulation,
            rate, minRate, warmup, decay, clip, seed, validation, checkpoint, checkpointEvery, threads, json,
        };
        command.SetGuardedAction(parse =>
        {
            EngineThreads.Apply(parse.GetValue(threads));
            string? modelPath = parse.GetValue(model);
            string? shapeText = parse.GetValue(shape);
            if ((modelPath is null) == (shapeText is null))
                throw new CliException("give either --model (fine-tune) or --shape (train from scratch)");
            int rank = parse.GetValue(loraRank);
            if (rank < 0)
                throw new CliException("--lora-rank must be ≥ 0");
            if (rank > 0 && modelPath is null)
                throw new CliException("LoRA needs a base model (--model)");
            ulong seedValue = parse.GetValue(seed);
            if (seedValue == 0)
                throw new CliException("--seed must be non-zero");
            Tokenizer vocabulary;
            LlamaModel trained;
            if (modelPath is not null)
            {
                trained = ModelResolver.Load(modelPath);
                vocabulary = ModelResolver.LoadTokenizer(parse.GetValue(tokenizer), modelPath, trained.Config.VocabSize);
            }
            else
            {
                vocabulary = ModelResolver.LoadTokenizer(parse.GetValue(tokenizer) ?? throw new CliException("training from scratch (--shape) needs --tokenizer"), "", null);
                trained = LlamaModel.CreateRandom(ParseShape(shapeText!, vocabulary.VocabularySize), (int)(seedValue & int.MaxValue));
            }
            LoraAdapter? adapter = null;
            if (rank > 0)
            {
                foreach (var parameter in trained.Parameters)
                    parameter.Frozen = true;
                adapter = trained.AddAdapter("train", new LoraSettings(rank, parse.GetValue(loraAlpha) ?? 2f * rank, parse.GetValue(loraDropout),
                    ParseTargets(parse.GetValue(loraTargets)!)), (int)(seedValue & int.MaxValue));
            }
            var corpus = parse.GetValue(data)!.SelectMany(path => Tokenize(vocabulary, CliIO.ReadAllBytes(path))).ToArray();
            int stepCount = parse.GetValue(steps);
            if (stepCount < 1)
                throw new CliException("--steps must be ≥ 1");
            var settings = new TrainingSettings
            {
                BatchSize = parse.GetValue(batch),
                SequenceLength = parse.GetValue(sequence) ?? Math.Min(256, trained.Config.MaxSequenceLength),
                AccumulationSteps = parse.GetValue(accumulation),
                TotalSteps = stepCount,
                WarmupSteps = parse.GetValue(warmup) ?? Math.Max(1, stepCount / 20),
                LearningRate = parse.GetValue(rate),
                MinLearningRate = parse.GetValue(minRate) ?? parse.GetValue(rate) / 10,
                GradientClip = parse.GetValue(clip),
                Optimizer = new AdamWSettings(WeightDecay: parse.GetValue(decay)),
                Seed = seedValue,
            };
            if (settings.SequenceLength < 2 || settings.SequenceLength > trained.Config.MaxSequenceLength)
                throw new CliException($"--seq must be in 2..{trained.Config.MaxSequenceLength}");
            if (corpus.Length <= settings.SequenceLength)
                throw new CliException($"the training text has {corpus.Length} tokens; it needs more than --seq ({settings.SequenceLength})");
            var trainer = new Trainer(trained, settings, adapter);
            string? checkpointPath = parse.GetValue(checkpoint);
            if (checkpointPath is not null && File.Exists(checkpointPath))
                trainer.LoadCheckpoint(checkpointPath);
            int bos = vocabulary.BosId ?? throw new CliException($"tokenizer '{vocabulary.Name}' has no BOS token");
            string? validationPath = parse.GetValue(validation);
            byte[]? validationBytes = validationPath is null ? null : CliIO.ReadAllBytes(validationPath);
            int[]? validationTokens = validationBytes is null ? null : Tokenize(vocabulary, validationBytes);
            EvaluationResult? Validate() => validationTokens is null ? null
                : Perplexity.CrossEntropy(trained, validationTokens, bos, validationBytes!.Length, settings.SequenceLength, adapter);
            var before = Validate();

            var clock = Stopwatch.StartNew();
            long tokensSeen = 0;
            var losses = new List<float>();
            bool interactive = ProgressReporter.IsInteractive && !parse.GetValue(json);
            int startStep = trainer.Step;
            ProgressReporter.Run("training", stepCount - startStep, (progress, setLabel) =>
            {
                while (trainer.Step < stepCount)
                {
                    var result = trainer.TrainStep(corpus);
                    tokensSeen += result.Tokens;
                    losses.Add(result.Loss);
                    progress.Report(trainer.Step - startStep);
                    setLabel($"training · loss {result.Loss:F3} · {tokensSeen / clock.Elapsed.TotalSeconds:F0} tokens/s");
                    if (!interactive && !parse.GetValue(json) && (trainer.Step % 10 == 0 || trainer.Step == stepCount))
                        Console.Error.WriteLine($"step {trainer.Step}/{stepCount}: loss {result.Loss:F4}, lr {result.LearningRate:G3}, " +
                            $"{tokensSeen / clock.Elapsed.TotalSeconds:F0} tokens/s");
                    if (checkpointPath is not null && (trainer.Step % parse.GetValue(checkpointEvery) == 0 || trainer.Step == stepCount))
                        trainer.SaveCheckpoint(checkpointPath);
                }
                return 0;
            });
            var after = Validate();
            string outputPath = parse.GetValue(output)!;
            if (adapter is not null)
                AdapterFiles.Save(adapter, outputPath);
            else if (outputPath.EndsWith(".bin", StringComparison.OrdinalIgnoreCase))
                Llama2cCheckpoint.Save(trained, outputPath);
            else
                ModelFiles.SaveHuggingFace(trained, outputPath);

            double seconds = clock.Elapsed.TotalSeconds;
            var summary = new
            {
                Steps = trainer.Step,
                Tokens = tokensSeen,
                TokensPerSecond = seconds > 0 ? Math.Round(tokensSeen / seconds, 1) : 0,
                FirstLoss = losses.Count > 0 ? Math.Round(losses[0], 4) : (double?)null,
                LastLoss = losses.Count > 0 ? Math.Round(losses.TakeLast(Math.Min(10, losses.Count)).Average(), 4) : (double?)null,
                ValidationBefore = before is null ? (double?)null : Math.Round(before.NatsPerToken, 4),
                ValidationAfter = after is null ? (double?)null : Math.Round(after.NatsPerToken, 4),
                Output = outputPath,
            };
            if (parse.GetValue(json))
                CliIO.WriteJson(summary);
            else
                Console.Out.WriteLine($"trained {summary.Steps} steps on {corpus.Length} tokens ({summary.TokensPerSecond} tokens/s); " +
                    $"loss {summary.FirstLoss} → {summary.LastLoss}" +
                    (before is null ? "" : $"; held-out {before.NatsPerToken:F4} → {after!.NatsPerToken:F4} nats/token") + $"; wrote {outputPath}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command ConvertCommand()
    {
        var model = ModelOption();
        var output = new Option<string>("--output", "-o") { Description = "Destination: a .bin file (llama2.c) or a folder (Hugging Face).", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "Hugging Face weight type: f32, f16 or bf16.", DefaultValueFactory = _ => "f32" };
        var json = JsonOption();
        var command = new Command("convert", "Convert between llama2.c checkpoints and Hugging Face safetensors folders.") { model, output, dtype, json };
        command.SetGuardedAction(parse =>
        {
            var loaded = ModelResolver.Load(parse.GetValue(model)!);
            string outputPath = parse.GetValue(output)!;
            var type = parse.GetValue(dtype)!.ToLowerInvariant() switch
            {
                "f32" => TensorDType.F32,
                "f16" => TensorDType.F16,
                "bf16" => TensorDType.BF16,
                var other => throw new CliException($"--dtype must be f32, f16 or bf16, not '{other}'"),
            };
            string format;
            if (outputPath.EndsWith(".bin", StringComparison.OrdinalIgnoreCase))
            {
                Llama2cCheckpoint.Save(loaded, outputPath);
                format = "llama2c";
            }
            else
            {
                ModelFiles.SaveHuggingFace(loaded, outputPath, type);
                format = "huggingface";
            }
            if (parse.GetValue(json))
                CliIO.WriteJson(new { Output = outputPath, Format = format, Parameters = loaded.Parameters.ElementCount, Identity = Convert.ToHexStringLower(loaded.ComputeIdentity()) });
            else
                Console.Out.WriteLine($"wrote {outputPath} ({format}, {loaded.Parameters.ElementCount} parameters)");
            return ExitCodes.Success;
        });
        return command;
    }

    private static LoraAdapter? LoadAdapter(LlamaModel model, string? folder)
    {
        if (folder is null)
            return null;
        if (!Directory.Exists(folder))
            throw new CliException($"no such adapter folder: {folder}");
        return AdapterFiles.Load(model, folder, "cli");
    }

    /// <summary>Text as UTF-8 when it is valid, otherwise byte tokens where the tokenizer has them.</summary>
    private static int[] Tokenize(Tokenizer tokenizer, byte[] bytes)
    {
        var ids = new List<int>();
        if (tokenizer.TryEncodeBytes(bytes, ids, EncodeOptions.Default))
            return ids.ToArray();
        return tokenizer.Encode(Encoding.UTF8.GetString(bytes));
    }

    internal static LlamaConfig ParseShape(string text, int vocabulary)
    {
        var parts = text.Split(',');
        if (parts.Length != 6 || !parts.All(p => int.TryParse(p, out _)))
            throw new CliException("--shape is dim,hidden,layers,heads,kv_heads,seq_len (six integers)");
        var n = parts.Select(int.Parse).ToArray();
        var config = new LlamaConfig(n[0], n[1], n[2], n[3], n[4], vocabulary, n[5]);
        return config.Problem() is { } problem ? throw new CliException($"--shape: {problem}") : config;
    }

    private static LlamaProjection[] ParseTargets(string text) => text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(name => name.ToLowerInvariant() switch
        {
            "q" or "q_proj" => LlamaProjection.Query,
            "k" or "k_proj" => LlamaProjection.Key,
            "v" or "v_proj" => LlamaProjection.Value,
            "o" or "o_proj" => LlamaProjection.Output,
            "gate" or "gate_proj" => LlamaProjection.Gate,
            "up" or "up_proj" => LlamaProjection.Up,
            "down" or "down_proj" => LlamaProjection.Down,
            _ => throw new CliException($"unknown LoRA target '{name}' (q, k, v, o, gate, up, down)"),
        }).Distinct().ToArray();
}
