using System.CommandLine;
using System.Text;
using System.Text.Json;
using Terse.Cli.Infrastructure;
using Terse.Evaluation;
using Terse.IO;
using Terse.Models;

namespace Terse.Cli.Commands;

/// <summary><c>terse eval</c>: every method against the baselines on held-out items of each task, as tables (docs/results.md).</summary>
public static class EvalCommand
{
    public static void AddTo(RootCommand root)
    {
        var suite = new Option<string>("--suite") { Description = "quick (a few items, one rate: minutes) or full (the tables of docs/results.md).", DefaultValueFactory = _ => "quick" };
        suite.AcceptOnlyFromAmong([.. EvaluationSuite.All.Select(s => s.Name)]);
        var model = new Option<string>("--model", "-m") { Description = $"Base model of every method (default: the built-in {ModelResolver.DefaultFor("eval")}).", DefaultValueFactory = _ => ModelResolver.DefaultFor("eval") };
        var tokenizer = new Option<string?>("--tokenizer", "-t") { Description = "Tokenizer; default: the model's own." };
        var data = new Option<string>("--data") { Description = "The text folder (laid out as ../shared/data/text); only held-out items are read.", DefaultValueFactory = _ => PretrainCommand.DefaultDataFolder() };
        var output = new Option<string?>("--output", "-o") { Description = "Folder to write results.json and results.md into." };
        var gmsa = new Option<string[]>("--gmsa") { Description = "A compressor folder of `terse gmsa train` or `gmsa keft` on the same base model (GMSA, or memory tokens with --merge memory); may be given several times." };
        var ztokens = new Option<string[]>("--ztokens") { Description = "A Z-token model folder of `terse ztokens train` with the same tokenizer; may be given several times." };
        var threads = EngineThreads.CreateOption();
        var json = new Option<bool>("--json") { Description = "Print the records as a JSON array (one per task × source × method × rate) instead of the tables." };
        var command = new Command("eval", "Evaluate every context method on the same base model, on held-out items: reconstruction, continuation bits/token, extractive QA (EM, F1) and summary likelihood from the compressed context, with achieved rates, the lossless bound and costs.")
        {
            suite, model, tokenizer, data, gmsa, ztokens, output, threads, json,
        };
        command.SetGuardedAction(parse =>
        {
            EngineThreads.Apply(parse.GetValue(threads));
            string modelName = parse.GetValue(model)!;
            var (loaded, vocabulary) = ModelResolver.LoadWithTokenizer(modelName, parse.GetValue(tokenizer));
            string folder = parse.GetValue(data)!;
            if (!Directory.Exists(folder))
                throw new CliException($"no such text folder: {folder}");
            var chosen = EvaluationSuite.Named(parse.GetValue(suite)!);
            string? outputFolder = parse.GetValue(output);
            if (outputFolder is not null)
                AtomicFile.CreateFolder(outputFolder);
            var methods = new List<IContextMethod>(EvaluationHarness.BaseMethods(loaded, vocabulary));
            foreach (var compressor in parse.GetValue(gmsa) ?? [])
            {
                var (soft, softTokenizer) = GmsaCommands.Load(compressor, modelName, null);
                CheckTokenizer(softTokenizer, vocabulary, compressor);
                methods.Add(new SoftTokenMethod(soft));
            }
            foreach (var directory in parse.GetValue(ztokens) ?? [])
            {
                var (z, zTokenizer) = ZTokenCommands.Load(directory, null);
                CheckTokenizer(zTokenizer, vocabulary, directory);
                var codec = new Terse.ZTokens.ZTokenCodec(z);
                methods.Add(new ZTokenDecoding(codec, loaded));
                methods.Add(new ZTokenReading(codec));
            }
            if (methods.Select(m => m.Name).Distinct().Count() != methods.Count)
                throw new CliException($"two methods have the same name ({string.Join(", ", methods.Select(m => m.Name))}): give one folder of each kind");
            long tuningSteps = EvaluationHarness.TuningSteps(methods, chosen);
            if (tuningSteps > 0)
                methods.AddRange(ProgressReporter.Run("tuning readers", tuningSteps, bar => EvaluationHarness.TuneReaders(methods, vocabulary, folder, chosen, bar)));
            var plan = EvaluationHarness.Plan(loaded, vocabulary, folder, chosen, methods);
            var records = ProgressReporter.Run($"eval {chosen.Name}", plan.Steps, bar => EvaluationHarness.Run(loaded, vocabulary, plan, bar));
            string recorded = ModelResolver.RecordedName(modelName);
            string markdown = EvaluationReport.Markdown(records, recorded, chosen);
            if (outputFolder is not null)
            {
                AtomicFile.WriteAllBytes(Path.Combine(outputFolder, "results.json"), JsonSerializer.SerializeToUtf8Bytes(records, CliIO.Json));
                AtomicFile.WriteAllBytes(Path.Combine(outputFolder, "results.md"), Encoding.UTF8.GetBytes(markdown));
            }
            if (parse.GetValue(json))
                CliIO.WriteJson(records);
            else
                Console.Out.Write(markdown);
            return ExitCodes.Success;
        });
        root.Subcommands.Add(command);
    }

    private static void CheckTokenizer(Terse.Tokenization.Tokenizer method, Terse.Tokenization.Tokenizer evaluated, string folder)
    {
        if (!method.Fingerprint.SequenceEqual(evaluated.Fingerprint))
            throw new CliException($"{folder} uses tokenizer '{method.Name}', not the evaluated model's '{evaluated.Name}'");
    }
}
