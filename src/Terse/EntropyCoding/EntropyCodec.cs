using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using Terse.IO;
using Terse.Tokenization;

namespace Terse.EntropyCoding;

/// <summary>Settings of <see cref="EntropyCodec"/>. None changes what Decompress returns.</summary>
/// <param name="MaxDegreeOfParallelism">Chunks coded at once (≥ 1); null: one per processor. The output is the same for every value.</param>
/// <param name="WindowTokens">Tokens of context the model holds at most (1..model.MaxSessionTokens); null: the model's whole window.</param>
/// <param name="CarryTokens">Tokens kept as context when the window is full and slides (0..window − 1); null: <see cref="EntropyCodec.DefaultCarryFraction"/> of the window.</param>
/// <param name="ChunkBytes">Largest chunk, in input bytes (1..65,536); null: <see cref="EntropyCodec.DefaultChunkBytes"/>.</param>
/// <param name="BrotliFallback">Keep a chunk as a Brotli stream where that is smaller than the model's; false: the model or the bytes verbatim only (to measure the model alone).</param>
/// <param name="FormatVersion">Container version written: 3 (the model alone) or 4 (the model mixed with the chunk's match model and counts); null: <see cref="EntropyContainer.Version"/>. Every version is read.</param>
public sealed record EntropyCodecOptions(int? MaxDegreeOfParallelism = null, int? WindowTokens = null, int? CarryTokens = null, int? ChunkBytes = null,
    bool BrotliFallback = true, int? FormatVersion = null);

/// <summary>An input cut into chunks and tokenized for compression (see <see cref="EntropyCodec.Prepare"/>).</summary>
public sealed class EntropyInput
{
    private int[]? tokens;

    internal EntropyInput(byte[] bytes, PreparedChunk[] chunks, uint crc)
    {
        Bytes = bytes;
        Chunks = chunks;
        Crc = crc;
        TokenCount = chunks.Sum(c => c.Segmented.Tokens.Length);
        RawByteCount = chunks.Sum(c => c.Segmented.RawBytes.Length);
    }

    internal byte[] Bytes { get; }
    internal PreparedChunk[] Chunks { get; }
    internal uint Crc { get; }

    public int ByteLength => Bytes.Length;
    public int ChunkCount => Chunks.Length;
    /// <summary>Tokens the model codes (each chunk tokenized on its own).</summary>
    public int TokenCount { get; }
    /// <summary>Bytes the tokenizer cannot reproduce, coded as escapes with an adaptive byte model.</summary>
    public int RawByteCount { get; }
    /// <summary>Every chunk's tokens, in order.</summary>
    public IReadOnlyList<int> Tokens => tokens ??= Chunks.SelectMany(c => c.Segmented.Tokens).ToArray();
}

/// <summary>One chunk of an input: where its bytes lie, their tokens and raw segments, and the escapes that code them (null: one token segment, no escapes).</summary>
internal sealed record PreparedChunk(Range Bytes, SegmentedInput Segmented, List<Escape>? Escapes);

/// <summary>The container and what it took.</summary>
/// <param name="Chunks">Chunks in all; <paramref name="StoredChunks"/> of them hold their bytes verbatim and <paramref name="BrotliChunks"/> as Brotli streams (coding them with the model did not pay).</param>
/// <param name="CodedBytes">Bytes of the model-coded chunks' streams.</param>
/// <param name="StoredBytes">Bytes of the stored chunks.</param>
/// <param name="BrotliBytes">Input bytes of the Brotli chunks.</param>
public sealed record EntropyCompressionResult(byte[] Container, int InputBytes, int InputTokens, int RawBytes, int Chunks, long CodedBytes,
    int StoredChunks, long StoredBytes, int BrotliChunks, long BrotliBytes)
{
    public int OutputBytes => Container.Length;
    public double BitsPerToken => InputTokens == 0 ? 0 : 8.0 * OutputBytes / InputTokens;
    public double BitsPerByte => InputBytes == 0 ? 0 : 8.0 * OutputBytes / InputBytes;
}

/// <summary>What a container says about itself, readable without the model.</summary>
/// <param name="TokenCount">Tokens of the model-coded chunks (stored and Brotli chunks hold bytes, not tokens).</param>
/// <param name="Escapes">Whether it holds bytes the tokenizer could not represent (coded as escapes).</param>
/// <param name="ContextWindow">Tokens of context the model held at most.</param>
/// <param name="ContextCarry">Tokens kept as context when the window slid.</param>
public sealed record EntropyContainerInfo(
    string ModelName, string ModelIdentity, string TokenizerName, string TokenizerFingerprint,
    int OriginalLength, long TokenCount, int ChunkCount, int StoredChunks, int BrotliChunks, bool Escapes, int ContextWindow, int ContextCarry);

/// <summary>Per-token surprisal of a text under a model.</summary>
/// <param name="Tokens">The tokens the model sees, every chunk's in order (raw escapes excluded).</param>
/// <param name="Bits">−log2 p(token | the context the model holds for it: earlier tokens of its chunk, within the sliding window), one per token.</param>
/// <param name="RawBytes">Bytes the tokenizer could not represent (escapes, not in <paramref name="Tokens"/>).</param>
public sealed record TextSurprisal(int[] Tokens, double[] Bits, int RawBytes)
{
    public double TotalBits => Bits.Sum();
}

/// <summary>
/// Thrown when a container was made with another model or tokenizer than the one given: the file is
/// fine, the argument is wrong (hence an <see cref="ArgumentException"/>; InvalidDataException is sealed).
/// </summary>
public sealed class ModelMismatchException(string message) : ArgumentException(message);

/// <summary>
/// Lossless compression of bytes with a language model and arithmetic coding. The input is cut
/// into chunks (<see cref="EntropyCodecOptions.ChunkBytes"/>, cut after a line break where
/// possible); each chunk is tokenized and coded on its own, from a fresh context, so chunks run in
/// parallel. Within a chunk the model sees a sliding window of its tokens (reset and refilled with
/// the last <see cref="EntropyCodecOptions.CarryTokens"/> when full). Bytes the tokenizer cannot
/// reproduce become escapes coded among the tokens. Each chunk keeps the smallest of its model
/// stream, a Brotli stream and its bytes verbatim, so the container is never larger than Brotli
/// chunk by chunk, nor than the input by more than its header and 3 bytes per chunk (docs/formats.md).
/// </summary>
public sealed class EntropyCodec
{
    /// <summary>
    /// The default chunk size. A chunk is coded from a cold start and is the unit of parallel work,
    /// of storing and of what the mixer's match model and counts can see: 64 KiB (the most a chunk
    /// may hold) lets them learn a text's own repeats, which is where the model alone loses to
    /// dictionary compressors; 16 KiB chunks cost 2–13 % more out of the model's domain
    /// (docs/results.md, "Version 4: mixing"). One core decodes terse1M several times faster than the goal
    /// of 3,000 tokens/s, so inputs below 64 KiB on one core are fast enough.
    /// </summary>
    public const int DefaultChunkBytes = EntropyContainer.MaxChunkBytes;

    /// <summary>The default carry as a fraction of the window (docs/results.md, "Context policy").</summary>
    public const double DefaultCarryFraction = 0.25;

    private readonly INextTokenModel model;
    private readonly Tokenizer tokenizer;
    private readonly ContextPolicy policy;
    private readonly int chunkBytes;
    private readonly int degree;
    private readonly bool brotliFallback;
    private readonly int version;
    private readonly byte[] modelIdentity;

    /// <summary>The oldest version written: version 2's arithmetic is only kept to read old files.</summary>
    private const int OldestVersionWritten = 3;

    public EntropyCodec(INextTokenModel model, Tokenizer tokenizer, EntropyCodecOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        options ??= new EntropyCodecOptions();
        if (model.VocabularySize < 1 || model.VocabularySize + 1 > (1 << FrequencyTable.DefaultTotalBits) / 2 || model.VocabularySize > FrequencyTable.MaxSymbols)
            throw new ArgumentException($"model vocabulary size {model.VocabularySize} is outside 1..{FrequencyTable.MaxSymbols}");
        if (model.MaxSessionTokens < 1)
            throw new ArgumentException($"model window {model.MaxSessionTokens} must be at least one token");
        if (model.Identity.Length > EntropyContainer.MaxIdentityBytes || tokenizer.Fingerprint.Length > EntropyContainer.MaxIdentityBytes)
            throw new ArgumentException($"model identity and tokenizer fingerprint must be at most {EntropyContainer.MaxIdentityBytes} bytes");
        int window = options.WindowTokens ?? model.MaxSessionTokens;
        policy = new ContextPolicy(window, options.CarryTokens ?? (int)(window * DefaultCarryFraction));
        if (policy.Problem(model.MaxSessionTokens) is { } problem)
            throw new ArgumentOutOfRangeException(nameof(options), problem);
        chunkBytes = options.ChunkBytes ?? DefaultChunkBytes;
        if (chunkBytes < 1 || chunkBytes > EntropyContainer.MaxChunkBytes)
            throw new ArgumentOutOfRangeException(nameof(options), chunkBytes, $"chunk size must be in 1..{EntropyContainer.MaxChunkBytes} bytes");
        degree = options.MaxDegreeOfParallelism ?? Environment.ProcessorCount;
        if (degree < 1)
            throw new ArgumentOutOfRangeException(nameof(options), degree, "degree of parallelism must be at least 1");
        this.model = model;
        this.tokenizer = tokenizer;
        brotliFallback = options.BrotliFallback;
        version = options.FormatVersion ?? EntropyContainer.Version;
        if (version < OldestVersionWritten || version > EntropyContainer.Version)
            throw new ArgumentOutOfRangeException(nameof(options), version, $"container version must be in {OldestVersionWritten}..{EntropyContainer.Version}");
        modelIdentity = model.Identity.ToArray();
    }

    /// <summary>Cuts and tokenizes the input (cheap next to coding), so a caller can show progress against <see cref="EntropyInput.TokenCount"/>.</summary>
    public EntropyInput Prepare(ReadOnlySpan<byte> input)
    {
        var bytes = input.ToArray();
        var ranges = InputChunker.Cut(bytes, chunkBytes);
        var chunks = new PreparedChunk[ranges.Count];
        for (int i = 0; i < chunks.Length; i++)
        {
            var segmented = InputSegmenter.Split(tokenizer, bytes.AsSpan(ranges[i]));
            foreach (int id in segmented.Tokens)
                if ((uint)id >= (uint)model.VocabularySize)
                    throw new ArgumentException($"tokenizer '{tokenizer.Name}' produced id {id}, outside the vocabulary of model '{model.Name}' (0..{model.VocabularySize - 1})");
            chunks[i] = new PreparedChunk(ranges[i], segmented, EscapesOf(segmented));
        }
        return new EntropyInput(bytes, chunks, Crc32C.Compute(bytes));
    }

    public EntropyCompressionResult Compress(ReadOnlySpan<byte> input, IProgress<long>? progress = null) =>
        Compress(Prepare(input), progress);

    /// <summary>Codes a prepared input. <paramref name="progress"/> receives the number of tokens done so far.</summary>
    public EntropyCompressionResult Compress(EntropyInput input, IProgress<long>? progress = null)
    {
        var chunks = input.Chunks;
        var entries = new ChunkEntry[chunks.Length];
        var payloads = new ReadOnlyMemory<byte>[chunks.Length];
        RunChunks(chunks.Length, i => chunks[i].Segmented.Tokens.Length, progress, policy, FrequencyTable.DefaultTotalBits, version, (worker, i) =>
        {
            var chunk = chunks[i];
            var original = input.Bytes.AsMemory(chunk.Bytes);
            var stored = new ChunkEntry(ChunkMode.Stored, original.Length, 0);
            int bestCost = stored.TableBytes + original.Length;
            (entries[i], payloads[i]) = (stored, original);
            // A Brotli or coded entry takes at least two bytes of the table, so a longer stream cannot win.
            if (brotliFallback && BrotliChunk.Pack(original.Span, bestCost - 3) is { } packed)
            {
                var brotli = new ChunkEntry(ChunkMode.Brotli, packed.Length, 0, original.Length);
                if (brotli.TableBytes + packed.Length < bestCost)
                {
                    (entries[i], payloads[i]) = (brotli, packed);
                    bestCost = brotli.TableBytes + packed.Length;
                }
            }
            var tokens = chunk.Segmented.Tokens;
            if (tokens.Length > TokenLimit(original.Length))
                return;
            // The model stops as soon as it cannot beat the best so far, which saves its time where Brotli wins.
            var stream = worker.Coder.Encode(worker.Context, tokens, chunk.Escapes, byteBudget: bestCost - 2);
            if (stream is null)
                return;
            var coded = new ChunkEntry(chunk.Escapes is null ? ChunkMode.Tokens : ChunkMode.TokensWithEscapes, stream.Length, tokens.Length);
            if (coded.TableBytes + stream.Length < bestCost)
                (entries[i], payloads[i]) = (coded, stream);
        });

        var header = new ContainerHeader
        {
            Version = version,
            ModelName = model.Name,
            ModelIdentity = modelIdentity,
            TokenizerName = tokenizer.Name,
            TokenizerFingerprint = tokenizer.Fingerprint.ToArray(),
            FrequencyTotalBits = FrequencyTable.DefaultTotalBits,
            Context = policy,
            OriginalLength = input.ByteLength,
            OriginalCrc = input.Crc,
            Chunks = entries,
        };
        var container = EntropyContainer.Write(header, payloads);
        var stored = entries.Where(e => e.Mode == ChunkMode.Stored).ToArray();
        var brotliChunks = entries.Where(e => e.Mode == ChunkMode.Brotli).ToArray();
        return new EntropyCompressionResult(container, input.ByteLength, input.TokenCount, input.RawByteCount, chunks.Length,
            entries.Where(e => e.IsCoded).Sum(e => (long)e.PayloadLength), stored.Length, stored.Sum(e => (long)e.PayloadLength),
            brotliChunks.Length, brotliChunks.Sum(e => (long)e.BrotliLength));
    }

    /// <summary>The most tokens a coded chunk of <paramref name="bytes"/> may have (the reader's bound, <see cref="EntropyContainer.MaxChunkTokens"/>).</summary>
    private static long TokenLimit(long bytes) => Math.Min(EntropyContainer.MaxChunkTokens, 2 * bytes + 1);

    /// <summary>
    /// The escapes of a chunk, or null when it is one token segment and needs none: a raw segment
    /// becomes an escape carrying its bytes, and two token segments in a row are separated by an
    /// escape without bytes.
    /// </summary>
    private static List<Escape>? EscapesOf(SegmentedInput segmented)
    {
        var segments = segmented.Segments;
        if (segments.Length == 1 && segments[0].Kind == SegmentKind.Tokens)
            return null;
        var escapes = new List<Escape>();
        int position = 0, rawOffset = 0;
        var previous = SegmentKind.Raw;
        foreach (var segment in segments)
        {
            if (segment.Kind == SegmentKind.Tokens && previous == SegmentKind.Raw)
            {
                position += segment.Length;
                previous = SegmentKind.Tokens;
                continue;
            }
            byte[] raw = [];
            if (segment.Kind == SegmentKind.Raw)
            {
                raw = segmented.RawBytes.AsSpan(rawOffset, segment.Length).ToArray();
                rawOffset += segment.Length;
            }
            escapes.Add(new Escape(position, raw));
            if (segment.Kind == SegmentKind.Tokens)
                position += segment.Length;
            previous = segment.Kind;
        }
        return escapes;
    }

    /// <summary>True when <paramref name="data"/> starts with the entropy-coded container's magic.</summary>
    public static bool IsContainer(ReadOnlySpan<byte> data) => data.StartsWith(EntropyContainer.Magic);

    /// <summary>Reads a container's header (no model needed): which model and tokenizer it requires, and its sizes.</summary>
    public static EntropyContainerInfo ReadInfo(ReadOnlySpan<byte> container)
    {
        var header = EntropyContainer.Read(container).Header;
        return new EntropyContainerInfo(header.ModelName, Convert.ToHexStringLower(header.ModelIdentity),
            header.TokenizerName, Convert.ToHexStringLower(header.TokenizerFingerprint),
            header.OriginalLength, header.TokenCount, header.Chunks.Length, header.Chunks.Count(c => c.Mode == ChunkMode.Stored),
            header.Chunks.Count(c => c.Mode == ChunkMode.Brotli),
            header.Chunks.Any(c => c.Mode == ChunkMode.TokensWithEscapes), header.Context.Window, header.Context.Carry);
    }

    /// <summary>
    /// Restores the original bytes. Throws <see cref="ModelMismatchException"/> when the container
    /// needs another model or tokenizer (naming both identities), and <see cref="InvalidDataException"/> when it is corrupt.
    /// <paramref name="progress"/> receives the number of tokens decoded so far. A container that
    /// declares more than <paramref name="maxOutputBytes"/> (default <see cref="DecodeLimits.For"/>
    /// its size) is refused with <see cref="InvalidDataException"/> before any model work.
    /// </summary>
    public byte[] Decompress(ReadOnlySpan<byte> container, IProgress<long>? progress = null, long? maxOutputBytes = null)
    {
        var parsed = EntropyContainer.Read(container);
        var header = parsed.Header;
        DecodeLimits.Check("entropy-coded container", header.OriginalLength, maxOutputBytes ?? DecodeLimits.For(container.Length));
        CheckIdentity(header);
        if (header.Context.Problem(model.MaxSessionTokens) is { } problem)
            throw new InvalidDataException($"entropy-coded container: {problem}");
        if (model.VocabularySize + 1 > (1 << header.FrequencyTotalBits) / 2)
            throw new InvalidDataException($"frequency precision {header.FrequencyTotalBits} bits is too small for a {model.VocabularySize}-token vocabulary");

        var chunks = header.Chunks;
        var data = container.ToArray();
        var outputs = new byte[chunks.Length][];
        long decodedBytes = 0;
        RunChunks(chunks.Length, i => chunks[i].TokenCount, progress, header.Context, header.FrequencyTotalBits, header.Version, (worker, i) =>
        {
            var entry = chunks[i];
            var payload = data.AsSpan(parsed.PayloadOffsets[i], entry.PayloadLength);
            try
            {
                if (entry.IsCoded)
                {
                    var tokens = new int[entry.TokenCount];
                    var escapes = worker.Coder.Decode(worker.Context, payload, tokens, entry.Mode == ChunkMode.TokensWithEscapes, header.OriginalLength);
                    outputs[i] = ChunkBytes(tokens, escapes, header.OriginalLength);
                    if (outputs[i].Length == 0)
                        throw new InvalidDataException("it decodes to no bytes");
                }
                else if (entry.Mode == ChunkMode.Brotli)
                {
                    outputs[i] = BrotliChunk.Unpack(payload, entry.BrotliLength);
                }
                else
                {
                    outputs[i] = payload.ToArray();
                }
                if (Interlocked.Add(ref decodedBytes, outputs[i].Length) > header.OriginalLength)
                    throw new InvalidDataException($"the chunks decode to more than the declared {header.OriginalLength} bytes");
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"chunk {i} is corrupt: {e.Message}", e);
            }
        });

        if (decodedBytes != header.OriginalLength)
            throw new InvalidDataException($"entropy-coded container decodes to {decodedBytes} bytes, not its declared {header.OriginalLength}");
        var output = new byte[header.OriginalLength];
        int at = 0;
        foreach (var chunk in outputs)
        {
            chunk.CopyTo(output, at);
            at += chunk.Length;
        }
        uint crc = Crc32C.Compute(output);
        if (crc != header.OriginalCrc)
            throw new InvalidDataException($"decoded bytes fail the checksum ({crc:x8}, expected {header.OriginalCrc:x8}): corrupt container");
        return output;
    }

    /// <summary>
    /// A chunk's bytes from its tokens and escapes: token segments run between escapes, each decoded
    /// on its own, with the escapes' raw bytes in between.
    /// </summary>
    private byte[] ChunkBytes(ReadOnlySpan<int> tokens, List<Escape> escapes, int originalLength)
    {
        var output = new ArrayBufferWriter<byte>(Math.Max(16, Math.Min(originalLength, tokens.Length * 4 + 64)));
        int segmentStart = 0;
        foreach (var escape in escapes)
        {
            DecodeTokens(tokens[segmentStart..escape.Position], output, originalLength);
            output.Write(escape.Raw);
            segmentStart = escape.Position;
        }
        DecodeTokens(tokens[segmentStart..], output, originalLength);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>
    /// −log2 p of each token under the model, the sequence taken as one chunk (one context sliding
    /// along it, as within a chunk of compression). Probabilities are the model's exact softmax in
    /// double precision, not the quantised coding table.
    /// </summary>
    public double[] Surprisal(ReadOnlySpan<int> tokens, IProgress<long>? progress = null)
    {
        foreach (int id in tokens)
            if ((uint)id >= (uint)model.VocabularySize)
                throw new ArgumentOutOfRangeException(nameof(tokens), id, $"token id outside the vocabulary of model '{model.Name}'");
        var ids = tokens.ToArray();
        var bits = new double[ids.Length];
        RunChunks(ids.Length == 0 ? 0 : 1, _ => ids.Length, progress, policy, FrequencyTable.DefaultTotalBits, EntropyContainer.Version,
            (worker, _) => ChunkSurprisal(worker.Context, ids, bits));
        return bits;
    }

    /// <summary>
    /// Cuts and tokenizes <paramref name="text"/> as compression would and returns each token's
    /// surprisal with the same chunks and context policy, so the sum is what coding the tokens
    /// costs up to a few bytes per chunk (and before any chunk is stored instead).
    /// </summary>
    public TextSurprisal Surprisal(ReadOnlySpan<byte> text, IProgress<long>? progress = null)
    {
        var input = Prepare(text);
        var chunks = input.Chunks;
        var starts = new int[chunks.Length + 1];
        for (int i = 0; i < chunks.Length; i++)
            starts[i + 1] = starts[i] + chunks[i].Segmented.Tokens.Length;
        var bits = new double[input.TokenCount];
        RunChunks(chunks.Length, i => chunks[i].Segmented.Tokens.Length, progress, policy, FrequencyTable.DefaultTotalBits, EntropyContainer.Version,
            (worker, i) => ChunkSurprisal(worker.Context, chunks[i].Segmented.Tokens, bits.AsSpan(starts[i], starts[i + 1] - starts[i])));
        return new TextSurprisal([.. input.Tokens], bits, input.RawByteCount);
    }

    private void ChunkSurprisal(SlidingContext context, ReadOnlySpan<int> tokens, Span<double> bits)
    {
        context.Start();
        for (int i = 0; i < tokens.Length; i++)
        {
            bits[i] = ExactSurprisal(CheckedLogits(context.NextLogits()), tokens[i]);
            if (i + 1 < tokens.Length)
                context.Accept(tokens[..(i + 1)]);
        }
    }

    private void CheckIdentity(ContainerHeader header)
    {
        if (!header.ModelIdentity.AsSpan().SequenceEqual(modelIdentity))
            throw new ModelMismatchException(
                $"this file was compressed with model '{header.ModelName}' (identity {Convert.ToHexStringLower(header.ModelIdentity)}), " +
                $"but the given model is '{model.Name}' (identity {Convert.ToHexStringLower(modelIdentity)})");
        if (!header.TokenizerFingerprint.AsSpan().SequenceEqual(tokenizer.Fingerprint))
            throw new ModelMismatchException(
                $"this file was compressed with tokenizer '{header.TokenizerName}' (fingerprint {Convert.ToHexStringLower(header.TokenizerFingerprint)}), " +
                $"but the given tokenizer is '{tokenizer.Name}' (fingerprint {Convert.ToHexStringLower(tokenizer.Fingerprint)})");
    }

    private void DecodeTokens(ReadOnlySpan<int> ids, ArrayBufferWriter<byte> output, int originalLength)
    {
        if (!ids.IsEmpty)
        {
            try
            {
                tokenizer.DecodeToBytes(ids, output);
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw new InvalidDataException($"entropy-coded container decodes to a token the tokenizer does not have: {e.Message}", e);
            }
        }
        if (output.WrittenCount > originalLength)
            throw new InvalidDataException($"entropy-coded container decodes to more than its declared {originalLength} bytes");
    }

    private ReadOnlySpan<float> CheckedLogits(ReadOnlySpan<float> logits)
    {
        if (logits.Length != model.VocabularySize)
            throw new InvalidOperationException($"model '{model.Name}' returned {logits.Length} logits; its vocabulary has {model.VocabularySize}");
        return logits;
    }

    private static double ExactSurprisal(ReadOnlySpan<float> logits, int token)
    {
        double max = double.NegativeInfinity;
        foreach (float l in logits)
            if (l > max) max = l;
        if (!double.IsFinite(max))
            return Math.Log2(logits.Length);
        double sum = 0;
        foreach (float l in logits)
            if (float.IsFinite(l)) sum += Math.Exp(l - max);
        double logit = logits[token];
        if (!double.IsFinite(logit))
            return double.PositiveInfinity;
        return (Math.Log(sum) - (logit - max)) / Math.Log(2);
    }

    /// <summary>
    /// Runs <paramref name="body"/> for every chunk, one session, context and coder per worker
    /// thread. Chunks are independent (each starts its context afresh), so the degree of
    /// parallelism changes nothing but speed. <paramref name="progress"/> gets the running sum of
    /// <paramref name="workOf"/> over the chunks done. The sessions compute logits as container
    /// <paramref name="version"/> says.
    /// </summary>
    private void RunChunks(int count, Func<int, int> workOf, IProgress<long>? progress, ContextPolicy context, int totalBits, int version,
        Action<Worker, int> body)
    {
        long done = 0;
        var progressLock = new object();
        var workers = new ConcurrentBag<Worker>();

        void RunOne(Worker worker, int index)
        {
            body(worker, index);
            if (progress is not null)
                lock (progressLock)
                {
                    done += workOf(index);
                    progress.Report(done);
                }
        }

        Worker NewWorker()
        {
            var worker = new Worker(model, context, totalBits, version);
            workers.Add(worker);
            return worker;
        }

        try
        {
            if (degree == 1 || count <= 1)
            {
                if (count == 0)
                    return;
                var worker = NewWorker();
                for (int i = 0; i < count; i++)
                    RunOne(worker, i);
            }
            else
            {
                var options = new ParallelOptions { MaxDegreeOfParallelism = degree };
                Parallel.For(0, count, options, NewWorker,
                    (index, _, worker) => { RunOne(worker, index); return worker; }, _ => { });
            }
        }
        catch (AggregateException aggregate) when (aggregate.InnerExceptions.Count > 0)
        {
            // Report the first failure as itself (e.g. the InvalidDataException of a corrupt chunk).
            ExceptionDispatchInfo.Capture(aggregate.Flatten().InnerExceptions[0]).Throw();
        }
        finally
        {
            foreach (var worker in workers)
                worker.Session.Dispose();
        }
    }

    /// <summary>What one thread needs: a model session behind a sliding context, and a chunk coder with its tables.</summary>
    private sealed class Worker
    {
        public Worker(INextTokenModel model, ContextPolicy policy, int totalBits, int version)
        {
            Session = version >= 3 ? model.CreateSession() : model.CreateVersion2Session();
            Context = new SlidingContext(Session, policy);
            Coder = new ChunkCoder(model.VocabularySize, totalBits,
                version >= EntropyContainer.MixingVersion ? new TokenMixer(model.VocabularySize, MixerSettings.Version4) : null);
        }

        public INextTokenSession Session { get; }
        public SlidingContext Context { get; }
        public ChunkCoder Coder { get; }
    }
}
