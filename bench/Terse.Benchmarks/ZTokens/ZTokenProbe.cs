using System.Diagnostics;
using Terse.Tokenization.Llama2c;
using Terse.ZTokens;

namespace Terse.Benchmarks.ZTokens;

/// <summary>Scratch: train briefly on the TinyStories train split and print greedy held-out figures.</summary>
public static class ZTokenProbe
{
    public static int Run(string[] args)
    {
        var options = args.Select(a => a.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");
        int Int(string key, int fallback) => options.TryGetValue(key, out var v) ? int.Parse(v) : fallback;
        float Float(string key, float fallback) => options.TryGetValue(key, out var v) ? float.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;
        var (train, heldOut) = StorySplit.Split(File.ReadAllText("/work/shared/data/text/tinystories_valid_head.txt"));
        var tokenizer = Llama2cTokenizer.Stories260K;
        var trainIds = tokenizer.Encode(train);
        var heldIds = tokenizer.Encode(heldOut);
        var shape = new ZTokenShape(Int("codes", 256), Int("segment", 32), Int("maxcode", 16), Int("rank", 8), Float("alpha", 16));
        var model = ZTokenModel.Create(ZTokenBaseModels.Load("stories260K"), "stories260K", shape, 1, Int("seed", 1));
        if (Int("copy", 1) == 1)
            model.InitializeCodesFrom(ZTokenModel.MostFrequentTokens(trainIds, model.Vocabulary.BaseSize, model.Vocabulary.CodeCount));
        int steps = Int("steps", 300);
        var trainer = new ZTokenTrainer(model, new ZTokenTrainingSettings
        {
            BatchSize = Int("batch", 8), TotalSteps = steps, WarmupSteps = Int("warmup", 20), LearningRate = Float("lr", 3e-3f), MinLearningRate = Float("minlr", 3e-4f),
            Budget = Float("budget", 4), RateWeight = Float("rate", 0.1f), OverBudgetWeight = Float("over", 1f), ContinuationWeight = Float("cont", 0.25f),
            StartTemperature = Float("t0", 1f), EndTemperature = Float("t1", 0.3f), Seed = (ulong)Int("seed", 1), RelaxedSteps = Int("relaxed", 0), NoiseScale = Float("noise", 1f), TeacherSteps = Int("teacher", 0),
        });
        void Diagnose(string when)
        {
            var session = model.Model.CreateSession(shape.CompressorPositions, model.Compressor);
            var v = model.Vocabulary;
            double spread = 0, endGap = 0; int count = 0;
            for (int i = 0; i < 20; i++)
            {
                session.Reset();
                int[] prompt = [1, .. heldIds.AsSpan(i * 37, shape.SegmentLength), v.Begin];
                var logits = session.Prefill(prompt).Slice(v.FirstCode, v.EmitChoices).ToArray();
                double mean = logits.Take(v.CodeCount).Average();
                spread += Math.Sqrt(logits.Take(v.CodeCount).Select(x => (x - mean) * (x - mean)).Average());
                endGap += logits[^1] - logits.Take(v.CodeCount).Max();
                count++;
            }
            Console.WriteLine($"{when}: code-logit std {spread / count:F3}, End minus best code {endGap / count:F3}");
        }
        Diagnose("init");
        var clock = Stopwatch.StartNew();
        double sumLoss = 0, sumAcc = 0, sumExact = 0, sumLen = 0, sumRec = 0, sumCont = 0;
        int count = 0;
        for (int s = 0; s < steps; s++)
        {
            var r = trainer.TrainStep(trainIds);
            sumLoss += r.Loss; sumAcc += r.TokenAccuracy; sumExact += r.ExactRate; sumLen += r.MeanCodeLength; sumRec += r.ReconstructionBits; sumCont += r.ContinuationBits; count++;
            if (r.Step % Int("every", 25) == 0)
            {
                Console.WriteLine($"step {r.Step,5} loss {sumLoss / count:F3} rec {sumRec / count:F3} b/t acc {sumAcc / count:F3} exact {sumExact / count:F3} len {sumLen / count:F2} cont {sumCont / count:F3} |g| {r.GradientNorm:F2} lr {r.LearningRate:G3} tau {r.Temperature:F2} {clock.Elapsed.TotalSeconds:F0}s");
                sumLoss = sumAcc = sumExact = sumLen = sumRec = sumCont = 0; count = 0;
            }
        }
        Diagnose("trained");
        var codec = new ZTokenCodec(model);
        {
            // information check: reconstruction loss with the segment's own code vs another segment's code
            double own = 0, other = 0;
            for (int i = 0; i < 30; i++)
            {
                var a = heldIds.AsSpan(i * shape.SegmentLength, shape.SegmentLength);
                var b = heldIds.AsSpan((i + 40) * shape.SegmentLength, shape.SegmentLength);
                own += codec.CrossEntropyAfterCode(codec.Encode(a), a, false);
                other += codec.CrossEntropyAfterCode(codec.Encode(b), a, false);
            }
            Console.WriteLine($"reconstruction bits/token with own code {own / 30 / shape.SegmentLength / Math.Log(2):F3}, with another segment's code {other / 30 / shape.SegmentLength / Math.Log(2):F3}");
        }
        int segments = Int("eval", 100), exact = 0, corrections = 0, codeTokens = 0, textTokens = 0;
        for (int i = 0; i < segments; i++)
        {
            var segment = heldIds.AsSpan(i * shape.SegmentLength, shape.SegmentLength);
            var code = codec.Encode(segment);
            var fix = codec.FindCorrections(code, segment);
            if (fix.Count == 0) exact++;
            corrections += fix.Count;
            codeTokens += code.Length;
            textTokens += segment.Length;
        }
        Console.WriteLine($"held-out greedy: {segments} segments, exact {exact}, token accuracy {1 - (double)corrections / textTokens:F3}, mean code {codeTokens / (double)segments:F2}, ratio {textTokens / (double)codeTokens:F2}");
        if (options.TryGetValue("save", out var dir))
            model.Save(dir, tokenizer);
        return 0;
    }
}

/// <summary>
/// The in-domain split: TinyStories validation text cut once, at the first paragraph that opens a
/// story ("Once upon a time") after 80% of the bytes; before it trains, after it is held out.
/// </summary>
public static class StorySplit
{
    public static (string Train, string HeldOut) Split(string text, double trainFraction = 0.8)
    {
        int at = (int)(text.Length * trainFraction);
        int cut = text.IndexOf("\n\nOnce upon a time", at, StringComparison.Ordinal);
        if (cut < 0)
            throw new InvalidDataException("no story start after the split point");
        return (text[..(cut + 2)], text[(cut + 2)..]);
    }
}
