using System.Globalization;
using Terse.Tokenization;
using Terse.ZTokens;

namespace Terse.Benchmarks.ZTokens;

/// <summary>What every Z-token bench command needs: the model folder with its tokenizer, and integer options.</summary>
internal static class ZTokenBench
{
    /// <summary>A trained model folder and the tokenizer its manifest names.</summary>
    public static (ZTokenModel Model, Tokenizer Tokenizer) Load(string folder) =>
        (ZTokenModel.Load(folder, Terse.Models.ModelResolver.Load), TokenizerRegistry.Load(ZTokenModel.ReadManifest(folder).Tokenizer));

    /// <summary>The integer after <paramref name="name"/> in <paramref name="args"/>, or <paramref name="fallback"/>.</summary>
    public static int IntOption(string[] args, string name, int fallback) =>
        Array.IndexOf(args, name) is int at and >= 0 ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
}
