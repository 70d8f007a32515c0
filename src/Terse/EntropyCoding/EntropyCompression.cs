using System.Collections.Concurrent;
using Terse.Models;
using Terse.Tokenization;

namespace Terse.EntropyCoding;

/// <summary>What <c>terse compress -m entropy --json</c> reports.</summary>
/// <param name="Exact">The container was decoded again and gave back the input byte for byte (null: not checked).</param>
/// <param name="StoredChunks">Chunks kept verbatim because neither the model nor Brotli would have made them smaller.</param>
/// <param name="StoredBytes">Input bytes in those chunks.</param>
/// <param name="BrotliChunks">Chunks kept as Brotli streams because Brotli beat the model there.</param>
/// <param name="BrotliBytes">Input bytes in those chunks.</param>
public sealed record EntropyCompressionReport(
    long InputBytes, long InputTokens, long OutputBytes, double BitsPerToken, double BitsPerByte, bool? Exact,
    string Model, string Tokenizer, int Chunks, int RawBytes, int StoredChunks, long StoredBytes, int BrotliChunks, long BrotliBytes);

/// <summary>
/// The entropy coder as a compression method for the command line: resolves model and tokenizer
/// names (a built-in model and its tokenizer, <see cref="DefaultModel"/> by default, or llama2.c / SentencePiece files),
/// and compresses or decompresses whole buffers with progress in tokens.
/// </summary>
public static class EntropyCompression
{
    /// <summary>The built-in model <c>compress -m entropy</c> uses when none is given.</summary>
    public static string DefaultModel => ModelResolver.DefaultFor("compress -m entropy");

    private static readonly ConcurrentDictionary<string, LlamaNextTokenModel> s_builtIns = new(StringComparer.Ordinal);

    /// <summary>
    /// A model as <see cref="ModelResolver"/> resolves it (null: <see cref="DefaultModel"/>). Built-ins
    /// are loaded once per process and shared; a file's name (without extension) is what the
    /// container records.
    /// </summary>
    public static LlamaNextTokenModel ResolveModel(string? nameOrPath)
    {
        nameOrPath ??= DefaultModel;
        if (ModelResolver.FindBuiltIn(nameOrPath) is { } builtIn)
            return s_builtIns.GetOrAdd(builtIn.Name, name => new LlamaNextTokenModel(ModelResolver.Load(name), name));
        return new LlamaNextTokenModel(ModelResolver.Load(nameOrPath), Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(nameOrPath)));
    }

    /// <summary>The tokenizer given, or the model's own (<see cref="ModelResolver.LoadTokenizer"/>).</summary>
    public static Tokenizer ResolveTokenizer(string? tokenizer, string? model, LlamaNextTokenModel resolved) =>
        ModelResolver.LoadTokenizer(tokenizer, model ?? DefaultModel, resolved.VocabularySize);

    /// <summary>
    /// Compresses <paramref name="input"/>. <paramref name="progressFor"/> is told the work before
    /// coding starts (the token count, twice over with <paramref name="verify"/>), so a progress
    /// bar can be sized; the progress it returns then gets the work done. With
    /// <paramref name="verify"/> the result is decoded again and compared (<see cref="EntropyCompressionReport.Exact"/>).
    /// </summary>
    public static (byte[] Container, EntropyCompressionReport Report) Compress(ReadOnlySpan<byte> input, string? model, string? tokenizer,
        int? threads = null, bool verify = false, Func<long, IProgress<long>?>? progressFor = null)
    {
        var resolvedModel = ResolveModel(model);
        var resolvedTokenizer = ResolveTokenizer(tokenizer, model, resolvedModel);
        var codec = new EntropyCodec(resolvedModel, resolvedTokenizer, new EntropyCodecOptions(threads));
        var prepared = codec.Prepare(input);
        var progress = progressFor?.Invoke(prepared.TokenCount * (verify ? 2L : 1L));
        var result = codec.Compress(prepared, progress);
        bool? exact = verify
            ? codec.Decompress(result.Container, progress is null ? null : new OffsetProgress(progress, prepared.TokenCount)).AsSpan().SequenceEqual(input)
            : null;
        var report = new EntropyCompressionReport(result.InputBytes, result.InputTokens, result.OutputBytes,
            result.BitsPerToken, result.BitsPerByte, exact, resolvedModel.Name, resolvedTokenizer.Name, result.Chunks, result.RawBytes,
            result.StoredChunks, result.StoredBytes, result.BrotliChunks, result.BrotliBytes);
        return (result.Container, report);
    }

    private sealed class OffsetProgress(IProgress<long> inner, long offset) : IProgress<long>
    {
        public void Report(long value) => inner.Report(offset + value);
    }

    /// <summary>
    /// Decompresses a container. Without <paramref name="model"/> the built-in model is used if the
    /// container was made with it; otherwise the error says which model the file needs.
    /// </summary>
    public static byte[] Decompress(ReadOnlySpan<byte> container, string? model, string? tokenizer,
        int? threads = null, Func<long, IProgress<long>?>? progressFor = null, long? maxOutputBytes = null)
    {
        var info = EntropyCodec.ReadInfo(container);
        long limit = maxOutputBytes ?? Terse.IO.DecodeLimits.For(container.Length);
        Terse.IO.DecodeLimits.Check("entropy-coded container", info.OriginalLength, limit);
        if (model is null && ModelResolver.FindBuiltIn(info.ModelName) is null)
            throw new ArgumentException($"this file was compressed with model '{info.ModelName}' (identity {info.ModelIdentity}): pass it with --model");
        model ??= info.ModelName;
        var resolvedModel = ResolveModel(model);
        var resolvedTokenizer = ResolveTokenizer(tokenizer, model, resolvedModel);
        var codec = new EntropyCodec(resolvedModel, resolvedTokenizer, new EntropyCodecOptions(threads));
        return codec.Decompress(container, progressFor?.Invoke(info.TokenCount), limit);
    }
}
