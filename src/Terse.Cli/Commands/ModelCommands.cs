using System.CommandLine;
using Terse.Cli.Infrastructure;
using Terse.Models;

namespace Terse.Cli.Commands;

/// <summary><c>terse models</c>: the built-in models, and what each is the default for.</summary>
public static class ModelCommands
{
    public static void AddTo(RootCommand root)
    {
        var json = new Option<bool>("--json") { Description = "Print a JSON array: name, default_for, tokenizer, parameters, description, card." };
        var command = new Command("models", "List the built-in models (every -m/--model accepts their names) and the commands each is the default of.") { json };
        command.SetGuardedAction(parse =>
        {
            var rows = ModelResolver.BuiltIns.Select(m =>
            {
                var config = ModelResolver.Load(m.Name).Config;
                return new { m.Name, m.DefaultFor, m.Tokenizer, Parameters = config.ParameterCount, Shape = config, m.ReadsContext, m.Description, m.Card };
            }).ToArray();
            if (parse.GetValue(json))
                CliIO.WriteJson(rows.Select(r => new
                {
                    r.Name, r.DefaultFor, r.Tokenizer, r.Parameters, r.ReadsContext, r.Description, r.Card,
                    Dim = r.Shape.Dim, Layers = r.Shape.Layers, Heads = r.Shape.Heads, Vocabulary = r.Shape.VocabSize, Context = r.Shape.MaxSequenceLength,
                }));
            else
                foreach (var r in rows)
                    Console.Out.WriteLine($"{r.Name,-12} {r.Parameters,10:N0} parameters, {r.Shape.Layers} layers × {r.Shape.Dim}, context {r.Shape.MaxSequenceLength}, tokenizer {r.Tokenizer}\n" +
                        $"{"",-12} {r.Description}\n{"",-12} default for: {(r.DefaultFor.Count == 0 ? "—" : string.Join(", ", r.DefaultFor))}");
            return ExitCodes.Success;
        });
        root.Subcommands.Add(command);
    }
}
