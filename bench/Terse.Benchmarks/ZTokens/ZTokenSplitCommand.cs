namespace Terse.Benchmarks.ZTokens;

/// <summary>
/// <c>ztokens-split DIR</c>: writes the in-domain train / held-out split used by docs/results.md
/// ("Z-tokens"): TinyStories validation text (../shared/data) cut once, at the first paragraph that
/// opens a story ("Once upon a time") after 80% of the bytes. Training reads only the first file.
/// </summary>
public static class ZTokenSplitCommand
{
    public static int Run(string[] args)
    {
        if (args.Length != 1)
        {
            Console.Error.WriteLine("usage: ztokens-split OUTPUT_DIR");
            return 2;
        }
        string source = Path.Combine(MetaTokens.MetaTokenData.SharedData, "text", "tinystories_valid_head.txt");
        var (train, heldOut) = Split(File.ReadAllText(source));
        Directory.CreateDirectory(args[0]);
        File.WriteAllText(Path.Combine(args[0], "tinystories_train.txt"), train);
        File.WriteAllText(Path.Combine(args[0], "tinystories_heldout.txt"), heldOut);
        Console.WriteLine($"{source}: {train.Length:N0} characters for training, {heldOut.Length:N0} held out → {args[0]}");
        return 0;
    }

    public static (string Train, string HeldOut) Split(string text, double trainFraction = 0.8)
    {
        int at = (int)(text.Length * trainFraction);
        int cut = text.IndexOf("\n\nOnce upon a time", at, StringComparison.Ordinal);
        if (cut < 0)
            throw new InvalidDataException("no story start after the split point");
        return (text[..(cut + 2)], text[(cut + 2)..]);
    }
}
