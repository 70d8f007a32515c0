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

    /// <summary>
    /// A message as one line, without what the runtime appends for programmers (" (Parameter
    /// 'settings.BatchSize')", "Actual value was 0."): a user sees the sentence that names the problem.
    /// </summary>
    public static string OneLine(string message)
    {
        message = System.Text.RegularExpressions.Regex.Replace(message, @" \(Parameter '[^']*'\)|\r?\nActual value was [^\n]*", "");
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return string.Join("; ", lines);
    }

    private static bool IsUserError(Exception e) => e is CliException or InvalidDataException or IOException
        or UnauthorizedAccessException or ArgumentException or FormatException or NotSupportedException
        or CryptographicException or OutOfMemoryException or Terse.Neural.Training.TrainingDivergedException;
}
