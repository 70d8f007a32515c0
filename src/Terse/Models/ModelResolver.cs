using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Tokenization;

namespace Terse.Models;

/// <summary>A model shipped inside the library, usable by name wherever a model is asked for.</summary>
/// <param name="Tokenizer">The built-in tokenizer it reads (a <see cref="TokenizerRegistry"/> name).</param>
/// <param name="DefaultFor">The commands that use it when no model is given (e.g. <c>ztokens train</c>).</param>
/// <param name="Card">The document that describes its data, training and figures.</param>
/// <param name="ReadsContext">It copies from its context (docs/base-models.md, copy test); a test checks it on held-out text.</param>
public sealed record BuiltInModel(string Name, string Description, string Tokenizer, IReadOnlyList<string> DefaultFor, string Card, bool ReadsContext);

/// <summary>
/// The one place that turns what a user types after <c>-m</c> or <c>-t</c> into a model or a
/// tokenizer: a built-in name (<see cref="BuiltIns"/>), a llama2.c <c>.bin</c> checkpoint, or a
/// Hugging Face folder (<c>config.json</c> + safetensors); tokenizers through
/// <see cref="TokenizerRegistry"/>, with the model's vocabulary size as a hint for llama2.c
/// tokenizer files, and a built-in model's own tokenizer when none is given.
/// </summary>
public static class ModelResolver
{
    private sealed record Entry(BuiltInModel Info, string Resource);

    // One line per built-in model: the shipped file (an embedded resource, llama2.c format) and what it is the default of.
    private static readonly Entry[] Table =
    [
        new(new("terse1M", "Terse's base model (1.1M parameters): stories, Wikipedia, news, QA, dialogue, code and logs; copies from its context",
            "stories260K", ["ztokens train", "gmsa train", "eval", "compress -m entropy"], "docs/base-models.md", ReadsContext: true), "Terse.Assets.terse1M.bin"),
        new(new("stories260K", "Karpathy's TinyStories Llama (260K parameters, MIT); does not copy from its context", "stories260K",
            ["lm pretrain --teacher"], "assets/README.md", ReadsContext: false), "Terse.Assets.stories260K.bin"),
    ];

    public static IReadOnlyList<BuiltInModel> BuiltIns { get; } = [.. Table.Select(e => e.Info)];

    /// <summary>The built-in model a command uses when none is given (for example <c>ztokens train</c>).</summary>
    public static string DefaultFor(string command) =>
        BuiltIns.FirstOrDefault(m => m.DefaultFor.Contains(command))?.Name ?? throw new ArgumentException($"no built-in model is the default of '{command}'");

    /// <summary>The built-in model called <paramref name="name"/> (any case), or null.</summary>
    public static BuiltInModel? FindBuiltIn(string name) => Find(name)?.Info;

    private static Entry? Find(string name) => Table.FirstOrDefault(e => e.Info.Name.Equals(name, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// A fresh copy of the model (callers may extend or train it): a built-in name, a llama2.c
    /// <c>.bin</c> file or a Hugging Face folder.
    /// </summary>
    /// <exception cref="FileNotFoundException">Neither a built-in name nor an existing file or folder.</exception>
    /// <exception cref="InvalidDataException">The file is malformed (the message names it).</exception>
    public static LlamaModel Load(string nameOrPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrPath);
        if (Find(nameOrPath) is { } entry)
        {
            using var stream = typeof(ModelResolver).Assembly.GetManifestResourceStream(entry.Resource)
                ?? throw new InvalidOperationException($"the built-in model {entry.Info.Name} is missing from the library");
            return Llama2cCheckpoint.Load(stream, entry.Info.Name + ".bin");
        }
        if (!File.Exists(nameOrPath) && !Directory.Exists(nameOrPath))
            throw new FileNotFoundException($"no such model file or folder: {nameOrPath} (nor a built-in model: {string.Join(", ", BuiltIns.Select(m => m.Name))})", nameOrPath);
        return ModelFiles.Load(nameOrPath);
    }

    /// <summary>The canonical name of a built-in (its own spelling), or the full path of a model file or folder.</summary>
    public static string RecordedName(string nameOrPath) => Find(nameOrPath)?.Info.Name ?? Path.GetFullPath(nameOrPath);

    /// <summary>A model (<see cref="Load"/>) with its tokenizer (<see cref="LoadTokenizer"/>: the one given, or the model's own).</summary>
    public static (LlamaModel Model, Tokenizer Tokenizer) LoadWithTokenizer(string model, string? tokenizer)
    {
        var loaded = Load(model);
        return (loaded, LoadTokenizer(tokenizer, model, loaded.Config.VocabSize));
    }

    /// <summary>
    /// The tokenizer given (<paramref name="tokenizer"/>: a built-in name or a file, llama2.c files
    /// read for <paramref name="vocabularySize"/> entries); none given: the built-in model's own, or
    /// the tokenizer file inside a Hugging Face model folder.
    /// </summary>
    public static Tokenizer LoadTokenizer(string? tokenizer, string model, int? vocabularySize = null)
    {
        string source = TokenizerSource(tokenizer, model);
        if (source.EndsWith(".bin", StringComparison.OrdinalIgnoreCase) && File.Exists(source))
            return Tokenization.Llama2c.Llama2cTokenizer.Load(source, vocabularySize);
        return TokenizerRegistry.Load(source);
    }

    /// <summary>
    /// What names the tokenizer of <paramref name="model"/>: <paramref name="tokenizer"/> when
    /// given, else a built-in model's tokenizer name, else a Hugging Face model folder itself (read
    /// for its tokenizer file). What a trained artefact records to find its tokenizer again.
    /// </summary>
    public static string TokenizerSource(string? tokenizer, string model)
    {
        if (tokenizer is not null)
            return tokenizer;
        if (Find(model) is { } entry)
            return entry.Info.Tokenizer;
        if (Directory.Exists(model) && TokenizerRegistry.FileTypes.Any(t => t.NameInModelDirectory is { } name && File.Exists(Path.Combine(model, name))))
            return model;
        throw new ArgumentException($"model '{model}' has no tokenizer of its own: give one with --tokenizer");
    }
}
