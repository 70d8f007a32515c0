using System.CommandLine;
using Terse.Cli.Infrastructure;
using Terse.EntropyCoding;

namespace Terse.Cli.Commands;

/// <summary>
/// <c>-m entropy</c>: arithmetic coding with a language model's next-token probabilities, stored in
/// the TSEC container (docs/formats.md, "Entropy-coded container"). Default model: the built-in
/// <see cref="EntropyCompression.DefaultModel"/> with its tokenizer.
/// </summary>
internal sealed class EntropyCompressionMethod : ICompressionMethod
{
    private readonly Option<string?> compressModel = ModelOption();
    private readonly Option<string?> decompressModel = ModelOption();
    private readonly Option<int?> compressThreads = ThreadsOption();
    private readonly Option<int?> decompressThreads = ThreadsOption();
    private readonly Option<bool> noVerify = CompressCommands.NoVerifyOption;

    public string Name => "entropy";

    public string Description => $"lossless arithmetic coding with a language model; --model, default {EntropyCompression.DefaultModel}";

    public IReadOnlyList<Option> CompressOptions => [compressModel, compressThreads, noVerify];

    public IReadOnlyList<Option> DecompressOptions => [decompressModel, decompressThreads];

    /// <summary>A model step per token: a few kilobytes already take seconds, so they get a bar.</summary>
    public long ProgressThresholdBytes => 8 * 1024;

    private static Option<string?> ModelOption() => new("--model")
    {
        Description = $"entropy: the language model, a built-in name (default {EntropyCompression.DefaultModel}; `terse models`) a llama2.c .bin checkpoint or a Hugging Face folder; " +
            "decompression needs the one the file was made with",
    };

    private static Option<int?> ThreadsOption() => new Option<int?>("--threads")
    {
        Description = "entropy: chunks coded at once (default: one per core); the output does not depend on it",
    }.AtLeast(1);

    public bool IsContainer(ReadOnlySpan<byte> data) => EntropyCodec.IsContainer(data);

    public CompressionOutcome Compress(byte[] input, MethodContext context)
    {
        var (container, report) = EntropyCompression.Compress(input, context.Parse.GetValue(compressModel), context.Tokenizer,
            context.Parse.GetValue(compressThreads), verify: !context.Parse.GetValue(noVerify),
            progressFor: total => new TokenProgress(context.Progress, total));
        if (report.Exact == false)
            throw new InvalidOperationException("entropy coding did not round-trip this input; please report it");
        context.Progress.Report(1);
        string summary = $"{report.InputBytes:N0} bytes, {report.InputTokens:N0} tokens → {report.OutputBytes:N0} bytes " +
            $"({report.BitsPerByte:F3} bits/byte, {report.BitsPerToken:F3} bits/token; model {report.Model}, tokenizer {report.Tokenizer}" +
            (report.BrotliChunks > 0 ? $"; {report.BrotliChunks} of {report.Chunks} chunks packed with Brotli ({report.BrotliBytes:N0} bytes), the model did not pay there" : "") +
            (report.StoredChunks > 0 ? $"; {report.StoredChunks} of {report.Chunks} chunks stored verbatim ({report.StoredBytes:N0} bytes), the model did not pay there" : "") +
            (report.Exact == true ? "; round trip checked)" : ")");
        return new CompressionOutcome(container, report, summary);
    }

    public DecompressionOutcome Decompress(byte[] container, MethodContext context)
    {
        var info = EntropyCodec.ReadInfo(container);
        var output = EntropyCompression.Decompress(container, context.Parse.GetValue(decompressModel), context.Tokenizer,
            context.Parse.GetValue(decompressThreads), total => new TokenProgress(context.Progress, total), context.MaxOutputBytes);
        context.Progress.Report(1);
        var report = new EntropyDecompressionReport(container.Length, output.Length, info.TokenCount, info.ModelName, info.TokenizerName);
        return new DecompressionOutcome(output, report, $"{container.Length:N0} bytes → {output.Length:N0} bytes ({info.TokenCount:N0} tokens, model {info.ModelName})");
    }

    private sealed record EntropyDecompressionReport(long InputBytes, long OutputBytes, long Tokens, string Model, string Tokenizer);

    /// <summary>Tokens done as a fraction of the total (coding is nearly all of the time).</summary>
    private sealed class TokenProgress(IProgress<double> fraction, long total) : IProgress<long>
    {
        public void Report(long done) => fraction.Report(total == 0 ? 1 : (double)done / total);
    }
}
