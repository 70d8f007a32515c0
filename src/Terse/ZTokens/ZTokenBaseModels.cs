using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Tokenization;
using Terse.Tokenization.Llama2c;

namespace Terse.ZTokens;

/// <summary>Base models a Z-token model is built on: the built-in stories260K or a model file.</summary>
public static class ZTokenBaseModels
{
    public const string BuiltIn = "stories260K";

    /// <summary>
    /// A fresh copy (a Z-token model extends its base, so it never shares one): <c>stories260K</c>
    /// (shipped inside the library) or a llama2.c <c>.bin</c> / Hugging Face folder.
    /// </summary>
    public static LlamaModel Load(string nameOrPath)
    {
        if (nameOrPath == BuiltIn)
        {
            using var stream = typeof(ZTokenBaseModels).Assembly.GetManifestResourceStream("Terse.Assets.stories260K.bin")
                ?? throw new InvalidOperationException("the embedded stories260K model is missing from the assembly");
            return Llama2cCheckpoint.Load(stream, "stories260K.bin");
        }
        if (!File.Exists(nameOrPath) && !Directory.Exists(nameOrPath))
            throw new FileNotFoundException($"no such model: '{nameOrPath}' (use '{BuiltIn}' or a llama2.c .bin / Hugging Face folder)", nameOrPath);
        return ModelFiles.Load(nameOrPath);
    }

    /// <summary>How a base is recorded in a saved model: the built-in name, or the full path.</summary>
    public static string RecordedName(string nameOrPath) => nameOrPath == BuiltIn ? BuiltIn : Path.GetFullPath(nameOrPath);

    /// <summary>The tokenizer given by name or file; none given: the built-in model's own.</summary>
    public static Tokenizer LoadTokenizer(string? nameOrPath, string baseModel)
    {
        if (nameOrPath is not null)
            return TokenizerRegistry.Load(nameOrPath);
        if (baseModel == BuiltIn)
            return Llama2cTokenizer.Stories260K;
        throw new ArgumentException($"base model '{baseModel}' has no built-in tokenizer: give one with --tokenizer");
    }
}
