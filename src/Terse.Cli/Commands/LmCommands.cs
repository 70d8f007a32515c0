using System.CommandLine;
using System.Text;
using Terse.Cli.Infrastructure;
using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Neural.Numerics;
using Terse.Tokenization;
using Terse.Tokenization.Llama2c;
using Terse.Tokenization.SentencePiece;

namespace Terse.Cli.Commands;

/// <summary><c>terse lm …</c>: run the CPU transformer engine on Llama-family models.</summary>
public static class LmCommands
{
    public static void AddTo(RootCommand root)
    {
        var lm = new Command("lm", "Run Llama-family language models on the CPU (llama2.c checkpoints).");
        lm.Subcommands.Add(GenerateCommand());
        root.Subcommands.Add(lm);
    }

    private static Option<string> ModelOption() => new("--model", "-m")
    {
        Description = "Model checkpoint (llama2.c .bin).",
        Required = true,
    };

    private static Option<string> TokenizerOption() => new("--tokenizer", "-t")
    {
        Description = "Tokenizer: llama2.c tokenizer.bin, or a SentencePiece .model.",
        Required = true,
    };

    private static Option<int?> ThreadsOption() => new("--threads")
    {
        Description = "Threads for the engine (default: all cores).",
    };

    private static Command GenerateCommand()
    {
        var model = ModelOption();
        var tokenizer = TokenizerOption();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Text to continue (default: empty, i.e. start from BOS)." };
        var steps = new Option<int>("--steps", "-n")
        {
            Description = "Positions to run, counting BOS and the prompt tokens, as llama2.c's run.c; 0 = the model's length.",
            DefaultValueFactory = _ => 256,
        };
        var temperature = new Option<float>("--temperature")
        {
            Description = "Sampling temperature; 0 = greedy (deterministic).",
            DefaultValueFactory = _ => 1.0f,
        };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling threshold; 1 or 0 = off.", DefaultValueFactory = _ => 0.9f };
        var seed = new Option<ulong?>("--seed") { Description = "Random seed (default: from the clock)." };
        var threads = ThreadsOption();
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of the text." };
        var command = new Command("generate", "Continue a prompt; the output matches llama2.c's run.c byte for byte.")
        {
            model, tokenizer, prompt, steps, temperature, topP, seed, threads, json,
        };
        command.SetGuardedAction(parse =>
        {
            ApplyThreads(parse.GetValue(threads));
            int stepCount = parse.GetValue(steps);
            if (stepCount < 0)
                throw new CliException($"--steps must be ≥ 0, got {stepCount}");
            var loaded = LoadModel(parse.GetValue(model)!);
            var vocabulary = LoadTokenizer(parse.GetValue(tokenizer)!, loaded.Config.VocabSize);
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
            });
            if (asJson)
            {
                int generated = result.Tokens.Count - result.PromptTokens;
                CliIO.WriteJson(new
                {
                    Text = Encoding.UTF8.GetString(text.ToArray()),
                    Tokens = result.Tokens,
                    PromptTokens = result.PromptTokens,
                    GeneratedTokens = generated,
                    StoppedAtBos = result.StoppedAtBos,
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

    private static void ApplyThreads(int? threads)
    {
        if (threads is null)
            return;
        if (threads < 1)
            throw new CliException($"--threads must be ≥ 1, got {threads}");
        Compute.Threads = threads.Value;
    }

    internal static LlamaModel LoadModel(string path)
    {
        if (!File.Exists(path))
            throw new CliException($"no such model file: {path}");
        return Llama2cCheckpoint.Load(path);
    }

    /// <summary>A SentencePiece protobuf (<c>.model</c>) or a llama2.c <c>tokenizer.bin</c> read for the model's vocabulary size.</summary>
    internal static Tokenizer LoadTokenizer(string path, int vocabularySize)
    {
        if (!File.Exists(path))
            throw new CliException($"no such tokenizer file: {path}");
        return path.EndsWith(".model", StringComparison.OrdinalIgnoreCase)
            ? SentencePieceTokenizer.Load(path)
            : Llama2cTokenizer.Load(path, vocabularySize);
    }
}
