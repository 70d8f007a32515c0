using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Terse.EntropyCoding;
using Terse.Tokenization;

namespace Terse.Tests.EntropyCoding;

/// <summary>
/// A deterministic adaptive model for testing the coder without the neural engine: the logits
/// of the next token are 3·log(count + 0.05) of what followed the same order-k context so far in
/// this session, plus a weaker order-0 term. It learns within a session and forgets on Reset, like a
/// model with a context window.
/// </summary>
internal sealed class AdaptiveContextModel : INextTokenModel
{
    private readonly byte[] identity;

    public AdaptiveContextModel(int vocabularySize, int order = 2, int maxSessionTokens = 64, string name = "adaptive")
    {
        VocabularySize = vocabularySize;
        Order = order;
        MaxSessionTokens = maxSessionTokens;
        Name = name;
        identity = SHA256.HashData(Encoding.UTF8.GetBytes($"{name}/{vocabularySize}/{order}/{maxSessionTokens}"));
    }

    public string Name { get; }
    public int VocabularySize { get; }
    public int Order { get; }
    public int MaxSessionTokens { get; }
    public ReadOnlySpan<byte> Identity => identity;

    /// <summary>Counts sessions opened, so tests can check that workers reuse them.</summary>
    public int SessionsCreated;

    public INextTokenSession CreateSession()
    {
        Interlocked.Increment(ref SessionsCreated);
        return new Session(this);
    }

    private sealed class Session(AdaptiveContextModel model) : INextTokenSession
    {
        private readonly Dictionary<(long Context, int Token), int> contextCounts = [];
        private readonly int[] unigram = new int[model.VocabularySize];
        private readonly float[] logits = new float[model.VocabularySize];
        private readonly List<int> history = [];
        private bool disposed;

        public void Reset()
        {
            contextCounts.Clear();
            Array.Clear(unigram);
            history.Clear();
        }

        public ReadOnlySpan<float> NextLogits()
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            long context = Context();
            for (int t = 0; t < logits.Length; t++)
            {
                contextCounts.TryGetValue((context, t), out int c);
                logits[t] = MathF.Log(c + 0.05f) * 3f + MathF.Log(unigram[t] + 1f);
            }
            return logits;
        }

        public void Accept(int token)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (history.Count >= model.MaxSessionTokens)
                throw new InvalidOperationException("session window exceeded");
            if ((uint)token >= (uint)model.VocabularySize)
                throw new ArgumentOutOfRangeException(nameof(token));
            var key = (Context(), token);
            contextCounts[key] = contextCounts.GetValueOrDefault(key) + 1;
            unigram[token]++;
            history.Add(token);
        }

        public void Dispose() => disposed = true;

        private long Context()
        {
            long context = 17;
            for (int i = Math.Max(0, history.Count - model.Order); i < history.Count; i++)
                context = context * 1_000_003 + history[i];
            return context;
        }
    }
}

/// <summary>Wraps a model and counts the positions its sessions are fed (one per accepted token, batched or not).</summary>
internal sealed class CountingModel(INextTokenModel inner) : INextTokenModel
{
    public long Fed;

    public string Name => inner.Name;
    public int VocabularySize => inner.VocabularySize;
    public int MaxSessionTokens => inner.MaxSessionTokens;
    public ReadOnlySpan<byte> Identity => inner.Identity;
    public INextTokenSession CreateSession() => new Session(this, inner.CreateSession());

    private sealed class Session(CountingModel owner, INextTokenSession inner) : INextTokenSession
    {
        public void Reset() => inner.Reset();
        public ReadOnlySpan<float> NextLogits() => inner.NextLogits();

        public void Accept(int token)
        {
            Interlocked.Increment(ref owner.Fed);
            inner.Accept(token);
        }

        public void Accept(ReadOnlySpan<int> tokens)
        {
            Interlocked.Add(ref owner.Fed, tokens.Length);
            inner.Accept(tokens);
        }

        public void Dispose() => inner.Dispose();
    }
}

/// <summary>
/// A byte-level test tokenizer with a few multi-byte merges (greedy longest match): it can
/// represent any bytes, like a byte-fallback vocabulary.
/// </summary>
internal sealed class ByteMergeTokenizer : Tokenizer
{
    private static readonly string[] Merges = ["the", "th", "he", " t", " a", "e ", "in", "an", "nd", "\n\n", "Once upon a time"];
    private readonly byte[][] pieces;
    private readonly byte[] fingerprint;

    public ByteMergeTokenizer()
    {
        pieces = Enumerable.Range(0, 256).Select(b => new[] { (byte)b }).Concat(Merges.Select(Encoding.UTF8.GetBytes)).ToArray();
        fingerprint = SHA256.HashData(pieces.SelectMany(p => new[] { (byte)p.Length }.Concat(p)).ToArray());
    }

    public override string Name => "test-bytes";
    public override int VocabularySize => pieces.Length;
    public override IReadOnlyDictionary<string, int> SpecialTokens { get; } = new Dictionary<string, int>();
    public override ReadOnlySpan<byte> Fingerprint => fingerprint;

    public override void Encode(ReadOnlySpan<char> text, List<int> ids, EncodeOptions options) =>
        TryEncodeBytes(Encoding.UTF8.GetBytes(text.ToString()), ids, options);

    public override bool TryEncodeBytes(ReadOnlySpan<byte> bytes, List<int> ids, EncodeOptions options)
    {
        int i = 0;
        while (i < bytes.Length)
        {
            int best = bytes[i], bestLength = 1;
            for (int m = 256; m < pieces.Length; m++)
                if (pieces[m].Length > bestLength && bytes[i..].StartsWith(pieces[m]))
                {
                    best = m;
                    bestLength = pieces[m].Length;
                }
            ids.Add(best);
            i += bestLength;
        }
        return true;
    }

    public override void DecodeToBytes(ReadOnlySpan<int> ids, IBufferWriter<byte> output)
    {
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)pieces.Length)
                throw IdOutOfRange(id);
            output.Write(pieces[id]);
        }
    }
}

/// <summary>
/// A test tokenizer WITHOUT byte fallback, imitating SentencePiece: lowercase letters, space and
/// '.' only, everything else becomes &lt;unk&gt; (id 0); spaces are normalised (leading and
/// trailing ones stripped, runs collapsed to one); and a dummy-prefix space is added at the start
/// on encoding and dropped at the start on decoding — so separately encoded pieces do not
/// concatenate and a lone space does not survive, which the escape design must cope with.
/// </summary>
internal sealed class LettersTokenizer : Tokenizer
{
    private const string Alphabet = " .abcdefghijklmnopqrstuvwxyz";
    private static readonly byte[] UnknownBytes = Encoding.UTF8.GetBytes("\uFFFD");
    private readonly byte[] fingerprint = SHA256.HashData(Encoding.UTF8.GetBytes("letters:" + Alphabet));

    public override string Name => "test-letters";
    public override int VocabularySize => Alphabet.Length + 1;
    public override IReadOnlyDictionary<string, int> SpecialTokens { get; } = new Dictionary<string, int>();
    public override ReadOnlySpan<byte> Fingerprint => fingerprint;

    public override void Encode(ReadOnlySpan<char> text, List<int> ids, EncodeOptions options)
    {
        var normalised = string.Join(' ', text.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries));
        if (normalised.Length == 0)
            return;
        ids.Add(1); // dummy prefix: a space
        foreach (char c in normalised)
        {
            int index = Alphabet.IndexOf(c);
            ids.Add(index < 0 ? 0 : index + 1);
        }
    }

    public override void DecodeToBytes(ReadOnlySpan<int> ids, IBufferWriter<byte> output)
    {
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if ((uint)id >= (uint)VocabularySize)
                throw IdOutOfRange(id);
            if (i == 0 && id == 1)
                continue; // the dummy prefix
            if (id == 0)
                output.Write(UnknownBytes);
            else
                output.Write([(byte)Alphabet[id - 1]]);
        }
    }
}
