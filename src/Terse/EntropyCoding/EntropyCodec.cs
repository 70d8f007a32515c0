using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using Terse.IO;
using Terse.Tokenization;

namespace Terse.EntropyCoding;

/// <summary>Settings of <see cref="EntropyCodec"/>. Neither changes what Decompress returns.</summary>
/// <param name="MaxDegreeOfParallelism">Chunks coded at once (≥ 1); null: one per processor. The output is the same for every value.</param>
/// <param name="ChunkTokens">Tokens per chunk (1..model.MaxSessionTokens); null: the model's whole window.</param>
public sealed record EntropyCodecOptions(int? MaxDegreeOfParallelism = null, int? ChunkTokens = null);

/// <summary>An input tokenized for compression (see <see cref="EntropyCodec.Prepare"/>).</summary>
public sealed class EntropyInput
{
    internal EntropyInput(SegmentedInput segmented, uint crc)
    {
        Segmented = segmented;
        Crc = crc;
    }

    internal SegmentedInput Segmented { get; }
    internal uint Crc { get; }

    public int ByteLength => Segmented.ByteLength;
    /// <summary>Tokens the model codes.</summary>
    public int TokenCount => Segmented.Tokens.Length;
    /// <summary>Bytes the tokenizer cannot reproduce, coded as escapes with an adaptive byte model.</summary>
    public int RawByteCount => Segmented.RawBytes.Length;
    public IReadOnlyList<int> Tokens => Segmented.Tokens;
}

/// <summary>The container and what it took.</summary>
public sealed record EntropyCompressionResult(byte[] Container, int InputBytes, int InputTokens, int RawBytes, int Chunks, long CodedBytes)
{
    public int OutputBytes => Container.Length;
    public double BitsPerToken => InputTokens == 0 ? 0 : 8.0 * OutputBytes / InputTokens;
    public double BitsPerByte => InputBytes == 0 ? 0 : 8.0 * OutputBytes / InputBytes;
}

/// <summary>What a container says about itself, readable without the model.</summary>
/// <param name="Escapes">Whether it holds bytes the tokenizer could not represent (coded as escapes).</param>
public sealed record EntropyContainerInfo(
    string ModelName, string ModelIdentity, string TokenizerName, string TokenizerFingerprint,
    int OriginalLength, long TokenCount, int ChunkCount, bool Escapes);

/// <summary>Per-token surprisal of a text under a model.</summary>
/// <param name="Tokens">The tokens the model sees (raw escapes excluded).</param>
/// <param name="Bits">−log2 p(token | tokens before it in its chunk), one per token.</param>
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
/// Lossless compression of bytes with a language model and arithmetic coding. The input is
/// tokenized (bytes the tokenizer cannot reproduce become escapes coded among the tokens), the token sequence is cut
/// into chunks of at most the model's window, and each chunk is coded on its own from a reset
/// session — the context policy is "reset per chunk": deterministic and parallel, at the price of
/// a cold start at each chunk boundary.
/// </summary>
public sealed class EntropyCodec
{
    private readonly INextTokenModel model;
    private readonly Tokenizer tokenizer;
    private readonly int chunkTokens;
    private readonly int degree;
    private readonly byte[] modelIdentity;

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
        chunkTokens = options.ChunkTokens ?? model.MaxSessionTokens;
        if (chunkTokens < 1 || chunkTokens > model.MaxSessionTokens)
            throw new ArgumentOutOfRangeException(nameof(options), chunkTokens, $"chunk size must be in 1..{model.MaxSessionTokens} tokens (the model's window)");
        degree = options.MaxDegreeOfParallelism ?? Environment.ProcessorCount;
        if (degree < 1)
            throw new ArgumentOutOfRangeException(nameof(options), degree, "degree of parallelism must be at least 1");
        this.model = model;
        this.tokenizer = tokenizer;
        modelIdentity = model.Identity.ToArray();
    }

    /// <summary>Tokenizes the input (cheap next to coding), so a caller can show progress against <see cref="EntropyInput.TokenCount"/>.</summary>
    public EntropyInput Prepare(ReadOnlySpan<byte> input)
    {
        var segmented = InputSegmenter.Split(tokenizer, input);
        foreach (int id in segmented.Tokens)
            if ((uint)id >= (uint)model.VocabularySize)
                throw new ArgumentException($"tokenizer '{tokenizer.Name}' produced id {id}, outside the vocabulary of model '{model.Name}' (0..{model.VocabularySize - 1})");
        return new EntropyInput(segmented, Crc32C.Compute(input));
    }

    public EntropyCompressionResult Compress(ReadOnlySpan<byte> input, IProgress<long>? progress = null) =>
        Compress(Prepare(input), progress);

    /// <summary>Codes a prepared input. <paramref name="progress"/> receives the number of tokens coded so far.</summary>
    public EntropyCompressionResult Compress(EntropyInput input, IProgress<long>? progress = null)
    {
        var segmented = input.Segmented;
        var tokens = segmented.Tokens;
        var chunks = SplitIntoChunks(tokens.Length, input.ByteLength);
        var escapes = EscapesByChunk(segmented, chunks);
        bool useEscapes = escapes is not null;
        var streams = new byte[chunks.Length][];
        RunChunks(chunks, progress, FrequencyTable.DefaultTotalBits, useEscapes, (worker, index, start) =>
            streams[index] = worker.Coder.Encode(worker.Session, tokens.AsSpan(start, chunks[index].TokenCount),
                escapes?[index] ?? []));

        var header = new ContainerHeader
        {
            ModelName = model.Name,
            ModelIdentity = modelIdentity,
            TokenizerName = tokenizer.Name,
            TokenizerFingerprint = tokenizer.Fingerprint.ToArray(),
            FrequencyTotalBits = FrequencyTable.DefaultTotalBits,
            OriginalLength = input.ByteLength,
            OriginalCrc = input.Crc,
            Escapes = useEscapes,
            Chunks = chunks.Select((c, i) => c with { CodedLength = streams[i].Length }).ToArray(),
        };
        var container = EntropyContainer.Write(header, streams);
        return new EntropyCompressionResult(container, input.ByteLength, tokens.Length, input.RawByteCount,
            chunks.Length, streams.Sum(s => (long)s.Length));
    }

    /// <summary>
    /// The escapes of each chunk, or null when the input is one token segment and needs none: a raw
    /// segment becomes an escape carrying its bytes, and two token segments in a row are separated
    /// by an escape without bytes. An escape at the very end belongs to the last chunk.
    /// </summary>
    private static List<Escape>[]? EscapesByChunk(SegmentedInput segmented, ChunkEntry[] chunks)
    {
        var segments = segmented.Segments;
        if (segments.Length <= 1 && segments.All(s => s.Kind == SegmentKind.Tokens))
            return null;
        var byChunk = chunks.Select(_ => new List<Escape>()).ToArray();
        int chunk = 0, chunkStart = 0, position = 0, rawOffset = 0;
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
            while (chunk < chunks.Length - 1 && position >= chunkStart + chunks[chunk].TokenCount)
                chunkStart += chunks[chunk++].TokenCount;
            byChunk[chunk].Add(new Escape(position - chunkStart, raw));
            if (segment.Kind == SegmentKind.Tokens)
                position += segment.Length;
            previous = segment.Kind;
        }
        return byChunk;
    }

    /// <summary>True when <paramref name="data"/> starts with the entropy-coded container's magic.</summary>
    public static bool IsContainer(ReadOnlySpan<byte> data) => data.StartsWith(EntropyContainer.Magic);

    /// <summary>Reads a container's header (no model needed): which model and tokenizer it requires, and its sizes.</summary>
    public static EntropyContainerInfo ReadInfo(ReadOnlySpan<byte> container)
    {
        var header = EntropyContainer.Read(container).Header;
        return new EntropyContainerInfo(header.ModelName, Convert.ToHexStringLower(header.ModelIdentity),
            header.TokenizerName, Convert.ToHexStringLower(header.TokenizerFingerprint),
            header.OriginalLength, header.TokenCount, header.Chunks.Length, header.Escapes);
    }

    /// <summary>
    /// Restores the original bytes. Throws <see cref="ModelMismatchException"/> when the container
    /// needs another model or tokenizer (naming both identities), and <see cref="InvalidDataException"/> when it is corrupt.
    /// <paramref name="progress"/> receives the number of tokens decoded so far.
    /// </summary>
    public byte[] Decompress(ReadOnlySpan<byte> container, IProgress<long>? progress = null)
    {
        var parsed = EntropyContainer.Read(container);
        var header = parsed.Header;
        CheckIdentity(header);
        for (int i = 0; i < header.Chunks.Length; i++)
            if (header.Chunks[i].TokenCount > model.MaxSessionTokens)
                throw new InvalidDataException($"token count of chunk {i} is {header.Chunks[i].TokenCount}, above the model's window of {model.MaxSessionTokens}");
        if (model.VocabularySize + 1 > (1 << header.FrequencyTotalBits) / 2)
            throw new InvalidDataException($"frequency precision {header.FrequencyTotalBits} bits is too small for a {model.VocabularySize}-token vocabulary");

        var chunks = header.Chunks;
        var tokens = new int[checked((int)header.TokenCount)];
        var escapes = new List<Escape>[chunks.Length];
        var data = container.ToArray();
        RunChunks(chunks, progress, header.FrequencyTotalBits, header.Escapes, (worker, index, start) =>
        {
            try
            {
                escapes[index] = worker.Coder.Decode(worker.Session, data.AsSpan(parsed.ChunkOffsets[index], chunks[index].CodedLength),
                    tokens.AsSpan(start, chunks[index].TokenCount), header.OriginalLength);
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"chunk {index} is corrupt: {e.Message}", e);
            }
        });

        // Token segments run between escapes; each is decoded on its own, raw bytes go in between.
        var output = new ArrayBufferWriter<byte>(Math.Max(1, Math.Min(header.OriginalLength, data.Length * 16 + 1024)));
        int segmentStart = 0, chunkStart = 0;
        for (int c = 0; c < chunks.Length; c++)
        {
            foreach (var escape in escapes[c])
            {
                int position = chunkStart + escape.Position;
                DecodeTokens(tokens.AsSpan(segmentStart, position - segmentStart), output, header.OriginalLength);
                output.Write(escape.Raw);
                segmentStart = position;
            }
            chunkStart += chunks[c].TokenCount;
        }
        DecodeTokens(tokens.AsSpan(segmentStart), output, header.OriginalLength);
        if (output.WrittenCount != header.OriginalLength)
            throw new InvalidDataException($"entropy-coded container decodes to {output.WrittenCount} bytes, not its declared {header.OriginalLength}");
        uint crc = Crc32C.Compute(output.WrittenSpan);
        if (crc != header.OriginalCrc)
            throw new InvalidDataException($"decoded bytes fail the checksum ({crc:x8}, expected {header.OriginalCrc:x8}): corrupt container");
        return output.WrittenSpan.ToArray();
    }

    /// <summary>
    /// −log2 p of each token under the model, with the same chunking (reset per chunk) as
    /// compression, so the sum is what coding costs up to a few bytes per chunk. Probabilities are
    /// the model's exact softmax in double precision, not the quantised coding table.
    /// </summary>
    public double[] Surprisal(ReadOnlySpan<int> tokens, IProgress<long>? progress = null)
    {
        foreach (int id in tokens)
            if ((uint)id >= (uint)model.VocabularySize)
                throw new ArgumentOutOfRangeException(nameof(tokens), id, $"token id outside the vocabulary of model '{model.Name}'");
        var ids = tokens.ToArray();
        var bits = new double[ids.Length];
        var chunks = SplitIntoChunks(ids.Length, 0);
        RunChunks(chunks, progress, FrequencyTable.DefaultTotalBits, false, (worker, index, start) =>
        {
            var session = worker.Session;
            int count = chunks[index].TokenCount;
            for (int i = 0; i < count; i++)
            {
                int token = ids[start + i];
                bits[start + i] = ExactSurprisal(CheckedLogits(session), token);
                if (i + 1 < count)
                    session.Accept(token);
            }
        });
        return bits;
    }

    /// <summary>Tokenizes <paramref name="text"/> as compression would and returns each token's surprisal.</summary>
    public TextSurprisal Surprisal(ReadOnlySpan<byte> text, IProgress<long>? progress = null)
    {
        var input = Prepare(text);
        return new TextSurprisal(input.Segmented.Tokens, Surprisal(input.Segmented.Tokens, progress), input.RawByteCount);
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

    /// <summary>Chunks of the window's length but the last; a lone empty chunk for input that is all raw bytes.</summary>
    private ChunkEntry[] SplitIntoChunks(int tokenCount, int byteLength)
    {
        if (tokenCount == 0)
            return byteLength == 0 ? [] : [new ChunkEntry(0, 0)];
        var chunks = new ChunkEntry[(tokenCount + chunkTokens - 1) / chunkTokens];
        for (int i = 0; i < chunks.Length; i++)
            chunks[i] = new ChunkEntry(Math.Min(chunkTokens, tokenCount - i * chunkTokens), 0);
        return chunks;
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

    private ReadOnlySpan<float> CheckedLogits(INextTokenSession session)
    {
        var logits = session.NextLogits();
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
    /// Runs <paramref name="body"/> for every chunk, each with a freshly reset session; one session and
    /// table per worker thread. Chunks are independent, so the degree of parallelism changes nothing
    /// but speed.
    /// </summary>
    private void RunChunks(ChunkEntry[] chunks, IProgress<long>? progress, int totalBits, bool escapes, Action<Worker, int, int> body)
    {
        var starts = new int[chunks.Length];
        for (int i = 1; i < chunks.Length; i++)
            starts[i] = starts[i - 1] + chunks[i - 1].TokenCount;
        long done = 0;
        var progressLock = new object();
        var workers = new ConcurrentBag<Worker>();

        void RunOne(Worker worker, int index)
        {
            worker.Session.Reset();
            body(worker, index, starts[index]);
            if (progress is not null)
                lock (progressLock)
                {
                    done += chunks[index].TokenCount;
                    progress.Report(done);
                }
        }

        Worker NewWorker()
        {
            var worker = new Worker(model, totalBits, escapes);
            workers.Add(worker);
            return worker;
        }

        try
        {
            if (degree == 1 || chunks.Length <= 1)
            {
                if (chunks.Length == 0)
                    return;
                var worker = NewWorker();
                for (int i = 0; i < chunks.Length; i++)
                    RunOne(worker, i);
            }
            else
            {
                var options = new ParallelOptions { MaxDegreeOfParallelism = degree };
                Parallel.For(0, chunks.Length, options, NewWorker,
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

    /// <summary>What one thread needs: a model session and a chunk coder with its tables.</summary>
    private sealed class Worker(INextTokenModel model, int totalBits, bool escapes)
    {
        public INextTokenSession Session { get; } = model.CreateSession();
        public ChunkCoder Coder { get; } = new(model.VocabularySize, totalBits, escapes);
    }
}
