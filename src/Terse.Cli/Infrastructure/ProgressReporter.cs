using Spectre.Console;

namespace Terse.Cli.Infrastructure;

/// <summary>
/// A progress bar on stderr for long work, shown only when stderr is a terminal, so that piped
/// and --json output stay clean.
/// </summary>
public static class ProgressReporter
{
    public static bool IsInteractive => !Console.IsErrorRedirected;

    /// <summary>Runs <paramref name="work"/>, which reports completed units out of <paramref name="total"/>.</summary>
    public static T Run<T>(string label, long total, Func<IProgress<long>, T> work) =>
        Run(label, total, (progress, _) => work(progress));

    /// <summary>As above; <paramref name="work"/> may also replace the label (e.g. with a running loss).</summary>
    public static T Run<T>(string label, long total, Func<IProgress<long>, Action<string>, T> work)
    {
        if (!IsInteractive || total <= 0)
            return work(new Progress<long>(_ => { }), _ => { });

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context =>
            {
                var task = context.AddTask(label, maxValue: total);
                result = work(new SynchronousProgress(done => task.Value = Math.Min(done, total)), text => task.Description = text);
            });
        return result;
    }

    /// <summary>Progress&lt;T&gt; posts to the thread pool; a bar must see values in order.</summary>
    private sealed class SynchronousProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
