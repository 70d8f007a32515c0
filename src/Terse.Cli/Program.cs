using System.CommandLine;

namespace Terse.Cli;

public static class Program
{
    public static int Main(string[] args) => Run(args);

    /// <summary>Entry point shared by <c>Main</c> and the CLI tests, which call it in-process.</summary>
    public static int Run(string[] args)
    {
        var root = new RootCommand("terse — make LLM contexts shorter and give them back.");
        // Each capability adds its commands here: Commands/<Capability>Commands.cs.
        Commands.CompressCommands.AddTo(root);
        Commands.DemoCommand.AddTo(root);
        Commands.EvalCommand.AddTo(root);
        Commands.GmsaCommands.AddTo(root);
        Commands.LmCommands.AddTo(root);
        Commands.ModelCommands.AddTo(root);
        Commands.TokenizerCommands.AddTo(root);
        Commands.ZTokenCommands.AddTo(root);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // One line, like every other error: System.CommandLine would print all of them and the help.
            // A wrong word makes the parser miss a command too: name the word, not the missing command.
            var error = parsed.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parsed.Errors[0];
            Console.Error.WriteLine($"terse: error: {Infrastructure.CliAction.Describe(error)}");
            return Infrastructure.ExitCodes.Failure;
        }
        return parsed.Invoke();
    }
}
