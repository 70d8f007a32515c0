using Terse.IO;
using Terse.Tokenization;

namespace Terse.ZTokens;

/// <param name="Repair">Keep a Z code whose greedy decoding deviates, with the segment's residual coded under the decompressor's distribution, when that is smaller than the raw ids; false: such a segment falls back to its raw ids.</param>
/// <param name="MaxDegreeOfParallelism">Segments coded at once (default: one per core); the output does not depend on it.</param>
/// <param name="Search">Try longer codes where the greedy one is not exact and keep the one stored in the fewest bits (<see cref="ZTokenCodec.EncodeSearch"/>; up to MaxCodeLength times the work).</param>
public sealed record ZTokenCompressionOptions(bool Repair = true, int? MaxDegreeOfParallelism = null, bool Search = false);

/// <summary>What a compression did, segment by segment.</summary>
/// <param name="ExactSegments">Segments stored as a Z code that greedy decoding restores on its own.</param>
/// <param name="RepairedSegments">Segments stored as a Z code plus a residual (every token range-coded under the decompressor's distribution after the code).</param>
/// <param name="RawSegments">Segments stored as their token ids (the fallback).</param>
/// <param name="CodeTokens">Z-tokens stored (exact and repaired segments).</param>
/// <param name="ExactTextTokens">Text tokens in exact segments; with <see cref="ExactCodeTokens"/>, the ratio of the Z code where it alone suffices.</param>
/// <param name="Corrections">Positions of the repaired segments where greedy decoding deviates.</param>
/// <param name="Exact">The container was decompressed again and gave back the input byte for byte (null: not checked).</param>
/// <param name="BitsPerZToken">log2 |Z|: what a Z-token can carry.</param>
public sealed record ZTokenCompressionReport(
    long InputBytes, int InputTokens, int Segments, int ExactSegments, int RepairedSegments, int RawSegments,
    long CodeTokens, long ExactCodeTokens, long ExactTextTokens, long Corrections, long RawTokens, long OutputBytes, bool? Exact, double BitsPerZToken)
{
    /// <summary>Z-tokens stored (the same as <see cref="CodeTokens"/>).</summary>
    public long ZTokens => CodeTokens;

    /// <summary>Text tokens per Z-token over the segments stored as a code (exact or with a residual; 0 when none).</summary>
    public double Ratio => CodeTokens == 0 ? 0 : (double)(InputTokens - RawTokens) / CodeTokens;

    /// <summary>
    /// log2 |Z| / H with H the file's bits per token as this container stores it: the most text
    /// tokens per Z-token an exact code could reach if every Z-token carried its full log2 |Z| bits
    /// of the file's information (issue 11's bound, with H measured by the container itself).
    /// </summary>
    public double BoundRatio => BitsPerToken == 0 ? 0 : BitsPerZToken / BitsPerToken;

    public double BitsPerByte => InputBytes == 0 ? 0 : 8.0 * OutputBytes / InputBytes;

    /// <summary>Text tokens per Z-token over the segments whose code alone restores them (0 when none).</summary>
    public double ExactRatio => ExactCodeTokens == 0 ? 0 : (double)ExactTextTokens / ExactCodeTokens;

    /// <summary>Fraction of segments the fallback stored raw.</summary>
    public double FallbackRate => Segments == 0 ? 0 : (double)RawSegments / Segments;

    public double BitsPerToken => InputTokens == 0 ? 0 : 8.0 * OutputBytes / InputTokens;
}

/// <summary>
/// Lossless compression of whole texts with a trained <see cref="ZTokenModel"/>: the token ids are
/// cut into segments of the model's length; each is coded greedily and stored as the cheapest of:
/// its Z code (exact: greedy decoding restores it), its Z code and a residual (every token
/// range-coded under the decompressor's distribution after the code), or its ids (raw)
/// (<see cref="ZTokenBlockCoder"/>). The container (<see cref="ZTokenContainer"/>) names the
/// model's identity and the tokenizer's fingerprint, and keeps a CRC-32C of the original, so the
/// round trip is always exact — or refused. The decompressor runs in portable arithmetic, so a
/// file decodes the same on every machine.
/// </summary>
public sealed class ZTokenCompressor
{
    private readonly ZTokenModel _model;
    private readonly Tokenizer _tokenizer;

    public ZTokenCompressor(ZTokenModel model, Tokenizer tokenizer, ZTokenCompressionOptions? options = null)
    {
        _model = model;
        _tokenizer = tokenizer;
        Options = options ?? new ZTokenCompressionOptions();
        if (tokenizer.VocabularySize > model.Vocabulary.BaseSize)
            throw new ArgumentException($"tokenizer '{tokenizer.Name}' has {tokenizer.VocabularySize} tokens; the model's base vocabulary has {model.Vocabulary.BaseSize}");
    }

    public ZTokenCompressionOptions Options { get; }

    public static bool IsContainer(ReadOnlySpan<byte> data) => data.StartsWith(ZTokenContainer.Magic);

    /// <summary>Reads a container's header (validated, checksum included) without decoding it.</summary>
    public static ZTokenContainerHeader ReadHeader(ReadOnlySpan<byte> container, long? maxOutputBytes = null)
    {
        var header = ZTokenContainer.ReadHeader(container);
        CheckLimits(header, container.Length, maxOutputBytes);
        return header;
    }

    private static void CheckLimits(ZTokenContainerHeader header, long containerLength, long? maxOutputBytes)
    {
        long limit = maxOutputBytes ?? DecodeLimits.For(containerLength);
        DecodeLimits.Check(ZTokenContainer.Name, header.OriginalLength, limit);
        DecodeLimits.Check(ZTokenContainer.Name, header.TokenCount, limit, "tokens");
    }

    /// <summary>
    /// Compresses <paramref name="original"/>, given as <paramref name="ids"/> that the tokenizer decodes
    /// back to exactly those bytes (checked). With <paramref name="verify"/> the container is
    /// decompressed again and compared. <paramref name="progress"/> gets the fraction done.
    /// </summary>
    public (byte[] Container, ZTokenCompressionReport Report) Compress(ReadOnlySpan<byte> original, int[] ids, bool verify = true, IProgress<double>? progress = null)
    {
        if (!_tokenizer.DecodeToBytes(ids).AsSpan().SequenceEqual(original))
            throw new ArgumentException($"the ids do not decode to the original bytes with tokenizer '{_tokenizer.Name}'", nameof(ids));
        foreach (int id in ids)
            if ((uint)id >= (uint)_model.Vocabulary.BaseSize)
                throw new ArgumentOutOfRangeException(nameof(ids), id, "token id outside the model's base vocabulary");
        var header = Header(original.Length, Crc32C.Compute(original), ids.Length);
        int blocks = ZTokenContainer.BlockCount(header.SegmentCount, BlockSegments);
        var streams = new byte[blocks][];
        var outcomes = new SegmentOutcome[header.SegmentCount];
        int done = 0;
        Run(blocks, portable: true, (coder, b) =>
        {
            int first = b * BlockSegments, count = Math.Min(BlockSegments, header.SegmentCount - first);
            var segments = new int[count][];
            for (int s = 0; s < count; s++)
                segments[s] = ids.AsSpan((first + s) * header.SegmentLength, header.SegmentLengthAt(first + s)).ToArray();
            streams[b] = coder.Encode(segments, EncodeSegment, Options.Repair, outcomes.AsSpan(first, count));
            progress?.Report((verify ? 0.5 : 1.0) * Interlocked.Add(ref done, count) / outcomes.Length);
        });
        var container = ZTokenContainer.Write(header, BlockSegments, streams);
        bool? exact = null;
        if (verify)
            exact = Decompress(container, progress is null ? null : new SecondHalf(progress)).AsSpan().SequenceEqual(original);
        return (container, Report(original.Length, ids.Length, outcomes, container.Length, exact, _model.Vocabulary.BitsPerCode));
    }

    /// <summary>Segments per range-coded block: enough for the adaptive models to learn, few enough that a long text decodes on every core.</summary>
    private const int BlockSegments = 256;

    /// <summary>The greedy code, or with <see cref="ZTokenCompressionOptions.Search"/> the candidate that costs fewest bits: its Z-tokens and, unless exact, its residual.</summary>
    private int[] EncodeSegment(ZTokenCodec codec, int[] segment)
    {
        if (!Options.Search)
            return codec.Encode(segment);
        var symbols = new ResidualSymbol[segment.Length];
        bool repair = Options.Repair;
        return codec.EncodeSearch(segment, (code, candidate) =>
        {
            var (corrections, residualBits) = codec.MeasureResidual(code, candidate, symbols);
            bool exact = corrections.Count == 0;
            // Without repair only an exact code can be kept: any exact one beats every inexact one.
            return (code.Length * _model.Vocabulary.BitsPerCode + (exact ? 0 : repair ? residualBits : double.PositiveInfinity), exact);
        });
    }

    /// <summary>Restores the original bytes; throws <see cref="InvalidDataException"/> for a malformed container or another model or tokenizer.</summary>
    /// <remarks>
    /// A container that declares more than <paramref name="maxOutputBytes"/> bytes or tokens (default
    /// <see cref="DecodeLimits.For"/> its size) is refused with <see cref="InvalidDataException"/> before anything is decoded.
    /// </remarks>
    public byte[] Decompress(ReadOnlySpan<byte> container, IProgress<double>? progress = null, long? maxOutputBytes = null)
    {
        var (header, payload) = ZTokenContainer.Read(container, _model.Vocabulary.FirstCode);
        CheckLimits(header, container.Length, maxOutputBytes);
        CheckMatches(header);
        var ids = new int[header.TokenCount];
        int done = 0;
        if (payload.Version == ZTokenContainer.BitPackedVersion)
        {
            // Version 1 was written with the engine's native arithmetic: decode it the same way.
            var segments = payload.Segments;
            Run(segments.Length, portable: false, (coder, i) =>
            {
                var segment = segments[i];
                var tokens = segment.Raw ?? coder.Codec.Decode(segment.Code, header.SegmentLengthAt(i), segment.Corrections);
                tokens.CopyTo(ids, i * header.SegmentLength);
                progress?.Report((double)Interlocked.Increment(ref done) / segments.Length);
            });
        }
        else
        {
            var data = container.ToArray();
            int n = header.SegmentLength;
            Run(payload.Blocks.Length, portable: true, (coder, b) =>
            {
                var (offset, length) = payload.Blocks[b];
                long first = (long)b * payload.BlockSegments * n;
                int count = (int)Math.Min((long)payload.BlockSegments * n, header.TokenCount - first);
                coder.Decode(data.AsSpan(offset, length), ids.AsSpan((int)first, count), n);
                progress?.Report((double)Interlocked.Add(ref done, count) / Math.Max(1, ids.Length));
            });
        }
        var bytes = _tokenizer.DecodeToBytes(ids);
        if (bytes.Length != header.OriginalLength)
            throw new InvalidDataException($"Z-token container decodes to {bytes.Length} bytes, not its declared {header.OriginalLength}");
        uint crc = Crc32C.Compute(bytes);
        if (crc != header.OriginalCrc)
            throw new InvalidDataException($"decoded bytes fail the checksum ({crc:x8}, expected {header.OriginalCrc:x8}): corrupt container");
        return bytes;
    }

    private ZTokenContainerHeader Header(int originalLength, uint crc, int tokens) => new()
    {
        ModelName = "ztokens:" + (Models.ModelResolver.FindBuiltIn(_model.BaseName)?.Name ?? Path.GetFileName(_model.BaseName)),
        ModelIdentity = _model.Identity,
        TokenizerName = _tokenizer.Name,
        TokenizerFingerprint = _tokenizer.Fingerprint.ToArray(),
        BaseVocabulary = _model.Vocabulary.BaseSize,
        Codes = _model.Vocabulary.CodeCount,
        SegmentLength = _model.Shape.SegmentLength,
        MaxCodeLength = _model.Shape.MaxCodeLength,
        OriginalLength = originalLength,
        OriginalCrc = crc,
        TokenCount = tokens,
    };

    private void CheckMatches(ZTokenContainerHeader header)
    {
        if (!header.ModelIdentity.AsSpan().SequenceEqual(_model.Identity))
            throw new InvalidDataException($"this file was compressed with Z-token model {Convert.ToHexStringLower(header.ModelIdentity)} ({header.ModelName}), " +
                $"but the given model is {Convert.ToHexStringLower(_model.Identity)}");
        if (!header.TokenizerFingerprint.AsSpan().SequenceEqual(_tokenizer.Fingerprint))
            throw new InvalidDataException($"this file was compressed with tokenizer '{header.TokenizerName}' (fingerprint {Convert.ToHexStringLower(header.TokenizerFingerprint)}), " +
                $"but the given tokenizer is '{_tokenizer.Name}' (fingerprint {Convert.ToHexStringLower(_tokenizer.Fingerprint)})");
        if (header.BaseVocabulary != _model.Vocabulary.BaseSize || header.Codes != _model.Vocabulary.CodeCount
            || header.SegmentLength != _model.Shape.SegmentLength || header.MaxCodeLength != _model.Shape.MaxCodeLength)
            throw new InvalidDataException("the container's code shape does not match the model's");
    }

    /// <summary>Runs <paramref name="work"/> for every index, one block coder (a codec: two sessions) per worker.</summary>
    private void Run(int count, bool portable, Action<ZTokenBlockCoder, int> work)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = Options.MaxDegreeOfParallelism ?? Environment.ProcessorCount };
        try
        {
            Parallel.For(0, count, options, () => new ZTokenBlockCoder(new ZTokenCodec(_model, portable)), (i, _, coder) =>
            {
                work(coder, i);
                return coder;
            }, _ => { });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            // A corrupt block is an InvalidDataException to the caller, as any other corrupt field is.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
    }

    private static ZTokenCompressionReport Report(long inputBytes, int inputTokens, SegmentOutcome[] outcomes, long outputBytes, bool? exact, double bitsPerZToken)
    {
        int exactSegments = 0, residual = 0, raw = 0;
        long codeTokens = 0, exactCode = 0, exactText = 0, deviations = 0, rawTokens = 0;
        foreach (var outcome in outcomes)
        {
            switch (outcome.Kind)
            {
                case SegmentKind.Raw:
                    raw++;
                    rawTokens += outcome.Tokens;
                    continue;
                case SegmentKind.Exact:
                    exactSegments++;
                    exactCode += outcome.CodeLength;
                    exactText += outcome.Tokens;
                    break;
                default:
                    residual++;
                    deviations += outcome.Deviations;
                    break;
            }
            codeTokens += outcome.CodeLength;
        }
        return new ZTokenCompressionReport(inputBytes, inputTokens, outcomes.Length, exactSegments, residual, raw,
            codeTokens, exactCode, exactText, deviations, rawTokens, outputBytes, exact, bitsPerZToken);
    }

    /// <summary>Maps the verifying decompression's progress onto the second half of the whole.</summary>
    private sealed class SecondHalf(IProgress<double> inner) : IProgress<double>
    {
        public void Report(double value) => inner.Report(0.5 + 0.5 * value);
    }
}
