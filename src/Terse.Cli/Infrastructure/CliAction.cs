using System.Text.RegularExpressions;
using System.CommandLine;
using System.Security.Cryptography;

namespace Terse.Cli.Infrastructure;

/// <summary>Exit codes of the <c>terse</c> command.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    /// <summary>Bad input: unreadable or malformed file, unknown name, corrupt container.</summary>
    public const int Failure = 1;
}

/// <summary>Thrown by commands for a user error that deserves one clear line and no stack trace.</summary>
public sealed class CliException(string message) : Exception(message);

public static class CliAction
{
    /// <summary>
    /// Runs a command body so that every expected failure (bad files, bad arguments, I/O) prints one
    /// line <c>terse: error: …</c> on stderr and exits non-zero; only a real bug shows a stack trace.
    /// </summary>
    public static void SetGuardedAction(this Command command, Func<ParseResult, int> body) =>
        command.SetAction(parseResult => Guard(() => body(parseResult)));

    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (IsUserError(e))
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"terse: error: {OneLine(e.Message)}");
            return ExitCodes.Failure;
        }
    }

    /// <summary>A parse error as one sentence that names the option, in the words of the other errors.</summary>
    public static string Describe(System.CommandLine.Parsing.ParseError error)
    {
        string? option = error.SymbolResult switch
        {
            System.CommandLine.Parsing.OptionResult o => o.Option.Name,
            System.CommandLine.Parsing.ArgumentResult { Parent: System.CommandLine.Parsing.OptionResult o } => o.Option.Name,
            _ => null,
        };
        var message = error.Message;
        var typed = Regex.Match(message, @"^Cannot parse argument '(.*)' for option '(.*)' as expected type '(.*)'\.$");
        if (typed.Success)
        {
            string kind = typed.Groups[3].Value switch
            {
                "System.Int32" or "System.Int64" or "System.UInt64" or "System.Nullable`1[System.Int32]" or "System.Nullable`1[System.UInt64]" => "a whole number",
                "System.Single" or "System.Double" => "a number",
                _ => "another kind of value",
            };
            return $"{typed.Groups[2].Value} takes {kind}, got '{typed.Groups[1].Value}'";
        }
        var choices = Regex.Match(message, @"^Argument '(.*)' not recognized\. Must be one of:(.*)$", RegexOptions.Singleline);
        if (choices.Success && option is not null)
        {
            var allowed = Regex.Matches(choices.Groups[2].Value, "'([^']*)'").Select(m => m.Groups[1].Value);
            return $"{option} must be one of {string.Join(", ", allowed)}, got '{choices.Groups[1].Value}'";
        }
        if (message == "Required command was not provided." && error.SymbolResult is System.CommandLine.Parsing.CommandResult command)
        {
            string path = string.Join(' ', new[] { command }.Concat(ParentsOf(command)).Reverse().Select(c => c.Command.Name).Skip(1));
            return $"which command? `terse {path}{(path.Length > 0 ? " " : "")}--help` lists them";
        }
        return OneLine(message);
    }

    private static IEnumerable<System.CommandLine.Parsing.CommandResult> ParentsOf(System.CommandLine.Parsing.CommandResult command)
    {
        for (var parent = command.Parent as System.CommandLine.Parsing.CommandResult; parent is not null; parent = parent.Parent as System.CommandLine.Parsing.CommandResult)
            yield return parent;
    }

    /// <summary>
    /// A message as one line, without what the runtime appends for programmers (" (Parameter
    /// 'settings.BatchSize')", "Actual value was 0."): a user sees the sentence that names the problem.
    /// </summary>
    public static string OneLine(string message)
    {
        message = Regex.Replace(message, @" \(Parameter '[^']*'\)|\r?\nActual value was [^\n]*", "");
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return string.Join("; ", lines);
    }

    private static bool IsUserError(Exception e) => e is CliException or InvalidDataException or IOException
        or UnauthorizedAccessException or ArgumentException or FormatException or NotSupportedException
        or CryptographicException or OutOfMemoryException or Terse.Neural.Training.TrainingDivergedException;
}
