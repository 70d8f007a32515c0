using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Terse.Tokenization;

namespace Terse.Benchmarks.Tokenization;

/// <summary>
/// Differential fuzzing against npm tiktoken: random Unicode strings (the mixtures the unit tests
/// use: white space and line breaks, contractions, marks, letters of all cases, non-BMP characters,
/// random scalar values) encoded by both; prints every disagreement.
///   tokenizer-fuzz-parity [--count N] [--seed S] [--encodings a,b]
/// Too slow for the unit tests (node round trips); run when the scanners or the BPE change.
/// </summary>
internal static class TokenizerFuzzParityCommand
{
    private static readonly string[] Fragments =
    [
        " ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", " \n", "\u00A0", "\u3000", "\u2028", "\u0085", "\u000B",
        "a", "Z", "word", "Word", "WORD", "x", "0", "7", "42", "12345", "\u0663", "\U0001D7CE", "\u00BD", "\u216B",
        "'", "'s", "'S", "'t", "'re", "'RE", "'Ve", "'m", "'ll", "'LL", "'d", "'\u017F", "'x", "''",
        ".", ",", "!", "?", "-", "/", "//", "(", ")", "\"", "<|", "|>", "@", "_", "\\",
        "\u0301", "\u0300", "\u20DD", "\u0903", "\u00E9", "\u00C9", "\u01C5", "\u02B0", "\u3005",
        "\u4E2D", "\u6587", "\u3042", "\uAC00", "\u03A3", "\u03C3", "\u0416", "\u0436",
        "\U0001D400", "\U0001D41A", "\U00020000", "\U0001044E", "\U0001F600", "\U0001F1EA\U0001F1F8", "\u2764\uFE0F", "\u200D", "\uFEFF",
    ];

    public static int Run(string[] args)
    {
        int count = 20000, seed = 1;
        var encodings = new[] { "cl100k_base", "o200k_base", "r50k_base", "p50k_base" };
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--count": count = int.Parse(args[++i]); break;
                case "--seed": seed = int.Parse(args[++i]); break;
                case "--encodings": encodings = args[++i].Split(','); break;
                default: throw new ArgumentException($"unknown argument {args[i]}");
            }
        }
        var random = new Random(seed);
        var strings = new string[count];
        for (int i = 0; i < count; i++)
        {
            var text = new StringBuilder();
            int parts = random.Next(1, 30);
            for (int p = 0; p < parts; p++)
            {
                if (random.Next(4) == 0)
                {
                    int cp;
                    do cp = random.Next(0x110000); while (cp is >= 0xD800 and <= 0xDFFF);
                    text.Append(char.ConvertFromUtf32(cp));
                }
                else
                    text.Append(Fragments[random.Next(Fragments.Length)]);
            }
            strings[i] = text.ToString();
        }

        var directory = Path.Combine(TokenizerSpeedCommand.RepositoryRoot(), "bench", "tiktoken-node");
        int failures = 0;
        foreach (var encoding in encodings)
        {
            var tokenizer = TokenizerRegistry.Load(encoding);
            var expected = EncodeWithNode(directory, encoding, strings);
            int differing = 0;
            for (int i = 0; i < strings.Length; i++)
            {
                var ours = tokenizer.Encode(strings[i]);
                if (ours.SequenceEqual(expected[i]))
                    continue;
                if (differing++ < 10)
                    Console.WriteLine($"{encoding}: \"{Escape(strings[i])}\"\n  tiktoken [{string.Join(' ', expected[i])}]\n  Terse    [{string.Join(' ', ours)}]");
            }
            Console.WriteLine($"{encoding}: {strings.Length - differing} of {strings.Length} random strings identical");
            failures += differing;
        }
        return failures == 0 ? 0 : 1;
    }

    private static int[][] EncodeWithNode(string directory, string encoding, string[] strings)
    {
        var start = new ProcessStartInfo("node", ["tiktoken-reference.mjs", "encode", encoding])
        {
            WorkingDirectory = directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            StandardInputEncoding = new UTF8Encoding(false),
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        process.StandardInput.Write(JsonSerializer.Serialize(strings));
        process.StandardInput.Close();
        process.WaitForExit();
        return JsonSerializer.Deserialize<int[][]>(output.Result)!;
    }

    private static string Escape(string s) =>
        string.Concat(s.EnumerateRunes().Select(r => r.Value is >= 0x20 and < 0x7F ? ((char)r.Value).ToString() : $"\\u{{{r.Value:X}}}"));
}
