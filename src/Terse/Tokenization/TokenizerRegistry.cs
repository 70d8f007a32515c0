using Terse.Tokenization.Gguf;
using Terse.Tokenization.HuggingFace;
using Terse.Tokenization.Llama2c;
using Terse.Tokenization.SentencePiece;
using Terse.Tokenization.Tiktoken;

namespace Terse.Tokenization;

/// <summary>Options for loading a tokenizer from a file.</summary>
public sealed record TokenizerLoadOptions
{
    public static TokenizerLoadOptions Default { get; } = new();

    /// <summary>
    /// The pre-tokenizer pattern family (gpt2, cl100k, llama3, qwen2, o200k) where the file leaves it
    /// open or should be overridden: a <c>.tiktoken</c> rank file that is not a known one, or a
    /// <c>vocab.json</c> that should be read as Qwen2 without its <c>tokenizer_config.json</c>.
    /// </summary>
    public string? PreTokenizer { get; init; }
}

/// <summary>A tokenizer shipped inside the library, usable by name.</summary>
public sealed record BuiltInTokenizer(string Name, IReadOnlyList<string> Aliases, string Description, int VocabularySize);

/// <summary>
/// A kind of tokenizer file: a path whose file name ends with <paramref name="Suffix"/> (ignoring case)
/// is read by <paramref name="Load"/>, which throws <see cref="InvalidDataException"/> naming the file
/// when the content is malformed. <paramref name="NameInModelDirectory"/> is the file's usual name in a
/// model directory (<c>tokenizer.json</c>), so that a directory can be given instead of the file.
/// </summary>
public sealed record TokenizerFileType(string Suffix, string Description, Func<string, TokenizerLoadOptions, Tokenizer> Load,
    string? NameInModelDirectory = null);

/// <summary>
/// Resolves what users type after <c>-t</c>: a built-in name (<c>cl100k_base</c>, <c>gpt2</c>, …) or a
/// path to a tokenizer file, whose loader is picked by file type.
/// </summary>
public static class TokenizerRegistry
{
    // One line per file type; the first whose suffix the file name ends with wins.
    private static readonly TokenizerFileType[] FileTypeTable =
    [
        new(".tiktoken", "tiktoken rank file (base64 token, rank per line); Llama 3's gets its pattern and the sibling tokenizer_config.json's special tokens",
            TiktokenFileLoader.Load),
        new("tokenizer.json", "Hugging Face tokenizer.json with a byte-level BPE model (GPT-2, Llama 3, Qwen2 style)",
            HuggingFaceLoader.LoadTokenizerJson, "tokenizer.json"),
        new("vocab.json", "Hugging Face byte-level BPE vocab.json with the merges.txt of the same prefix beside it (GPT-2; Qwen2 when the sibling tokenizer_config.json says so)",
            HuggingFaceLoader.LoadVocabAndMerges, "vocab.json"),
        new(".model", "SentencePiece tokenizer.model (Llama 2, Mistral; BPE or CHAR); Meta's Llama 3 tokenizer.model, a tiktoken rank file, is recognised by content",
            LoadModelFile, "tokenizer.model"),
        new(".bin", "llama2.c tokenizer.bin (run.c's encoding rules)", (path, _) => Llama2cTokenizer.Load(path), "tokenizer.bin"),
        new(".gguf", "GGUF file's tokenizer.ggml.* vocabulary (model 'llama' or 'gpt2')", (path, _) => GgufVocabulary.Load(path).ToTokenizer()),
    ];

    private sealed record BuiltInEntry(BuiltInTokenizer Info, Func<Tokenizer> Get);

    // One line per built-in beyond the tiktoken encodings: new(new(NAME, [ALIASES], DESCRIPTION, SIZE), () => …),
    // where the function returns one shared, lazily loaded instance.
    private static readonly BuiltInEntry[] BuiltInTable =
    [
        .. TiktokenEncodings.BuiltIn.Select(e => new BuiltInEntry(
            new BuiltInTokenizer(e.Name, e.Aliases, e.Description, e.VocabularySize), () => TiktokenEncodings.Get(e))),
        new(new("stories260K", [], "llama2.c tok512 of Karpathy's stories260K model (SentencePiece-style BPE, byte fallback)", 512),
            () => Llama2cTokenizer.Stories260K),
    ];

    public static IReadOnlyList<BuiltInTokenizer> BuiltIns { get; } = [.. BuiltInTable.Select(b => b.Info)];

    public static IReadOnlyList<TokenizerFileType> FileTypes => FileTypeTable;

    /// <summary>
    /// The built-in tokenizer called <paramref name="nameOrPath"/> (a name or alias, any case), else the
    /// tokenizer in that file, else, for a model directory, the first file in it named as a file type
    /// expects (tokenizer.json before vocab.json, in table order). Built-ins are loaded once per process
    /// and shared (tokenizers are immutable).
    /// </summary>
    /// <exception cref="FileNotFoundException">Neither a built-in name nor an existing file.</exception>
    /// <exception cref="InvalidDataException">The file is malformed (the message names it).</exception>
    /// <exception cref="NotSupportedException">The file type is not one Terse reads (the message lists those it does).</exception>
    public static Tokenizer Load(string nameOrPath, TokenizerLoadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrPath);
        options ??= TokenizerLoadOptions.Default;
        foreach (var builtIn in BuiltInTable)
        {
            if (builtIn.Info.Name.Equals(nameOrPath, StringComparison.OrdinalIgnoreCase)
                || builtIn.Info.Aliases.Any(a => a.Equals(nameOrPath, StringComparison.OrdinalIgnoreCase)))
                return builtIn.Get();
        }

        if (Directory.Exists(nameOrPath))
        {
            foreach (var fileType in FileTypeTable)
            {
                if (fileType.NameInModelDirectory is { } usualName && File.Exists(Path.Combine(nameOrPath, usualName)))
                    return fileType.Load(Path.Combine(nameOrPath, usualName), options);
            }
            throw new NotSupportedException($"{nameOrPath} is a directory without a tokenizer file Terse knows " +
                $"({string.Join(", ", FileTypeTable.Where(t => t.NameInModelDirectory is not null).Select(t => t.NameInModelDirectory))}); give the file ({KnownFileTypes})");
        }
        if (!File.Exists(nameOrPath))
            throw new FileNotFoundException(
                $"no tokenizer '{nameOrPath}': not a built-in ({string.Join(", ", BuiltIns.SelectMany(b => b.Aliases.Prepend(b.Name)))}) and no such file",
                nameOrPath);
        var fileName = Path.GetFileName(nameOrPath);
        foreach (var fileType in FileTypeTable)
            if (fileName.EndsWith(fileType.Suffix, StringComparison.OrdinalIgnoreCase))
                return fileType.Load(nameOrPath, options);
        throw new NotSupportedException($"{nameOrPath}: unknown tokenizer file type; known: {KnownFileTypes}");
    }

    private static Tokenizer LoadModelFile(string path, TokenizerLoadOptions options)
    {
        Span<byte> head = stackalloc byte[64];
        int read;
        using (var stream = File.OpenRead(path))
            read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        return TiktokenRankFile.LooksLikeRankFile(head[..read])
            ? TiktokenFileLoader.Load(path, options)
            : SentencePieceTokenizer.Load(path);
    }

    private static string KnownFileTypes => string.Join(", ", FileTypeTable.Select(t => t.Suffix));
}
