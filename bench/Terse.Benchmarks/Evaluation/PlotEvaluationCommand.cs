using System.Text.Json;
using Terse.Evaluation;

namespace Terse.Benchmarks.Evaluation;

/// <summary>
/// <c>plot-eval RESULTS.json OUT</c>: one plot per task of a <c>terse eval -o</c> run,
/// <c>OUT.TASK.png</c>: the task's main score (mean over its sources, weighted by items) against
/// the achieved rate, a line per method that takes rates, a point per method with one natural
/// rate, no context as a dashed line, and the lossless bound on the rate as a dotted one.
/// </summary>
public static class PlotEvaluationCommand
{
    private sealed record Point(string Task, string Method, double? Rate, double? Achieved, double Bound, int Items, double Score);

    public static int Run(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: plot-eval RESULTS.json OUT (writes OUT.TASK.png per task)");
            return 2;
        }
        using var json = JsonDocument.Parse(File.ReadAllBytes(args[0]));
        var records = json.RootElement.EnumerateArray().Select(r =>
        {
            string task = r.GetProperty("task").GetString()!;
            var (score, _) = EvaluationTasks.Primary(task);
            return (Task: task, Method: r.GetProperty("method").GetString()!, Rate: Number(r, "rate"), Achieved: Number(r, "achieved_rate"),
                Bound: r.GetProperty("bound_rate").GetDouble(), Items: r.GetProperty("items").GetInt32(), Score: r.GetProperty("scores").GetProperty(score).GetDouble());
        }).ToList();
        foreach (var task in records.Select(r => r.Task).Distinct())
        {
            // Pool the sources of each method × rate: means weighted by items.
            var points = records.Where(r => r.Task == task).GroupBy(r => (r.Method, r.Rate)).Select(g =>
            {
                double items = g.Sum(r => r.Items);
                double? achieved = g.All(r => r.Achieved is not null) ? g.Sum(r => r.Achieved!.Value * r.Items) / items : null;
                return new Point(task, g.Key.Method, g.Key.Rate, achieved, g.Sum(r => r.Bound * r.Items) / items, (int)items, g.Sum(r => r.Score * r.Items) / items);
            }).ToList();
            var plot = new ScottPlot.Plot();
            var (score, higher) = EvaluationTasks.Primary(task);
            foreach (var method in points.Select(p => p.Method).Distinct())
            {
                var own = points.Where(p => p.Method == method && p.Achieved is not null).OrderBy(p => p.Achieved).ToList();
                if (own.Count == 0)
                {
                    var none = points.First(p => p.Method == method);
                    var floor = plot.Add.HorizontalLine(none.Score);
                    floor.LinePattern = ScottPlot.LinePattern.Dashed;
                    floor.LegendText = method;
                    continue;
                }
                var line = plot.Add.ScatterLine(own.Select(p => p.Achieved!.Value).ToArray(), own.Select(p => p.Score).ToArray());
                line.LegendText = method;
                line.MarkerSize = 7;
            }
            var bound = plot.Add.VerticalLine(points.Average(p => p.Bound));
            bound.LinePattern = ScottPlot.LinePattern.Dotted;
            bound.LegendText = "lossless bound on the rate";
            plot.Title($"{task}: {score.Replace('_', ' ')} against achieved rate ({(higher ? "higher" : "lower")} is better)");
            plot.XLabel("achieved rate (context tokens per unit of code)");
            plot.YLabel(score == EvaluationTasks.BitsPerToken ? "bits/token" : $"{score.Replace('_', ' ')} (%)");
            plot.ShowLegend(ScottPlot.Edge.Right);
            string path = $"{args[1]}.{task}.png";
            plot.SavePng(path, 900, 500);
            Console.WriteLine($"{path}: {points.Count} method × rate points");
        }
        return 0;
    }

    private static double? Number(JsonElement record, string name) =>
        record.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;
}
