using System.Text.Json;

namespace Terse.Benchmarks.Pretraining;

/// <summary>
/// <c>plot-training RUN/log.jsonl OUT</c>: the loss curves of a <c>terse lm pretrain</c> run
/// (training loss per episode kind, nats/token: <c>OUT.loss.png</c>) and its development probes
/// (copy test: first and second occurrence; bits/token per domain: <c>OUT.probe.png</c>), against the update.
/// </summary>
public static class PlotTrainingCommand
{
    public static int Run(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: plot-training LOG.jsonl OUT (writes OUT.loss.png and OUT.probe.png)");
            return 2;
        }
        var steps = new List<JsonElement>();
        var probes = new List<JsonElement>();
        foreach (var line in File.ReadLines(args[0]))
        {
            if (string.IsNullOrWhiteSpace(line))
                continue;
            var entry = JsonDocument.Parse(line).RootElement;
            (entry.TryGetProperty("probe", out _) ? probes : steps).Add(entry);
        }
        var losses = new ScottPlot.Plot();
        foreach (var kind in steps.SelectMany(s => s.GetProperty("kinds").EnumerateObject().Select(k => k.Name)).Distinct().Order())
        {
            var points = steps.Where(s => s.GetProperty("kinds").TryGetProperty(kind, out _))
                .Select(s => (X: (double)s.GetProperty("step").GetInt32(), Y: s.GetProperty("kinds").GetProperty(kind).GetDouble())).ToArray();
            var line = losses.Add.ScatterLine(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray());
            line.LegendText = kind;
            line.MarkerSize = 0;
        }
        losses.Title("training loss by episode kind");
        losses.YLabel("nats/token");
        losses.XLabel("update");
        losses.ShowLegend(ScottPlot.Alignment.UpperRight);
        losses.SavePng(args[1] + ".loss.png", 900, 450);
        var probe = new ScottPlot.Plot();
        double[] x = [.. probes.Select(p => (double)p.GetProperty("step").GetInt32())];
        foreach (var (name, values) in new[]
        {
            ("copy test, first occurrence", probes.Select(p => p.GetProperty("copy_first").GetDouble())),
            ("copy test, second occurrence", probes.Select(p => p.GetProperty("copy_second").GetDouble())),
        }.Concat(probes.SelectMany(p => p.GetProperty("bits_per_token").EnumerateObject().Select(d => d.Name)).Distinct()
            .Select(domain => ($"{domain} bits/token", probes.Select(p => p.GetProperty("bits_per_token").GetProperty(domain).GetDouble())))))
        {
            var line = probe.Add.ScatterLine(x, values.ToArray());
            line.LegendText = name;
        }
        probe.Title("development probe");
        probe.XLabel("update");
        probe.YLabel("bits/token");
        probe.ShowLegend(ScottPlot.Alignment.UpperRight);
        probe.SavePng(args[1] + ".probe.png", 900, 450);
        Console.WriteLine($"{args[1]}.loss.png, {args[1]}.probe.png: {steps.Count} logged updates, {probes.Count} probes");
        return 0;
    }
}
