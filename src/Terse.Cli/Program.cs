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
        return root.Parse(args).Invoke();
    }
}
