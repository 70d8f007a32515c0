using Terse.MetaTokens;

namespace Terse.Benchmarks.MetaTokens;

/// <summary>
/// <c>metatokens-guard [--cases N] [--seed S]</c>: how often gain's own selection (gain-fast, no
/// guard) is longer than the paper's Greedy on generated sequences — random ids, repeated blocks
/// with edits, small alphabets, up to a few hundred ids — which is what the default's guard is for.
/// </summary>
internal static class MetaTokenGuardCommand
{
    public static int Run(string[] args)
    {
        int cases = 20_000, seed = 1;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--cases": cases = int.Parse(args[++i]); break;
                case "--seed": seed = int.Parse(args[++i]); break;
                default: throw new ArgumentException($"unknown argument {args[i]}; use --cases N, --seed S");
            }
        }
        var random = new Random(seed);
        var kinds = new[] { "random", "repeated blocks", "small alphabet" };
        var lost = new int[kinds.Length];
        var count = new int[kinds.Length];
        long gainTotal = 0, greedyTotal = 0, worstLoss = 0;
        var fast = new MetaTokenOptions { Strategy = MetaTokenStrategy.GainFast };
        var greedy = new MetaTokenOptions { Strategy = MetaTokenStrategy.Greedy };
        for (int c = 0; c < cases; c++)
        {
            int kind = c % kinds.Length;
            int[] ids = Generate(random, kind);
            int g = MetaTokenCompressor.Compress(ids, 64, fast).OutputTokenCount;
            int r = MetaTokenCompressor.Compress(ids, 64, greedy).OutputTokenCount;
            count[kind]++;
            gainTotal += g;
            greedyTotal += r;
            if (g > r)
            {
                lost[kind]++;
                worstLoss = Math.Max(worstLoss, g - r);
            }
        }
        Console.WriteLine($"{cases:N0} generated sequences, seed {seed}; gain without its guard against Greedy");
        Console.WriteLine("| kind | sequences | gain-fast longer than Greedy |");
        Console.WriteLine("|---|---:|---:|");
        for (int k = 0; k < kinds.Length; k++)
            Console.WriteLine($"| {kinds[k]} | {count[k]:N0} | {lost[k]:N0} ({100.0 * lost[k] / count[k]:F2}%) |");
        Console.WriteLine($"total output: gain-fast {gainTotal:N0}, Greedy {greedyTotal:N0} tokens ({100.0 * (greedyTotal - gainTotal) / greedyTotal:F1}% fewer); largest loss {worstLoss} tokens");
        return 0;
    }

    private static int[] Generate(Random random, int kind)
    {
        int length = random.Next(2, 400);
        switch (kind)
        {
            case 0:
                return Enumerable.Range(0, length).Select(_ => random.Next(64)).ToArray();
            case 1:
            {
                // A few blocks pasted again and again, with an occasional edited id.
                var blocks = Enumerable.Range(0, random.Next(1, 5)).Select(_ => Enumerable.Range(0, random.Next(2, 24)).Select(_ => random.Next(64)).ToArray()).ToArray();
                var ids = new List<int>(length);
                while (ids.Count < length)
                {
                    foreach (int id in blocks[random.Next(blocks.Length)])
                        ids.Add(random.Next(10) == 0 ? random.Next(64) : id);
                }
                return ids.ToArray();
            }
            default:
            {
                int alphabet = random.Next(1, 5);
                return Enumerable.Range(0, length).Select(_ => random.Next(alphabet)).ToArray();
            }
        }
    }
}
