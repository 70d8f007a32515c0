using System.Buffers;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Terse.Tokenization.SentencePiece;

namespace Terse.Tokenization.Llama2c;

/// <summary>
/// The tokenizer of karpathy/llama2.c (<c>tokenizer.bin</c>, e.g. stories260K's <c>tok512.bin</c> or
/// the exported Llama 2 vocabulary), encoding exactly as run.c's <c>encode</c>: a dummy-prefix
/// <c>" "</c> token when the text is not empty, one token per UTF-8 code point found in the
/// vocabulary and byte tokens (<c>byte + 3</c>) for the others, then repeated merges of the adjacent
/// pair whose concatenation is a token with the best score (ties: leftmost; scores at or below
/// −1e10 never merge). BOS is 1 and EOS is 2, as run.c hard-codes them.
/// </summary>
/// <remarks>
/// Beyond run.c: a NUL character (which ends a C string) is encoded as its byte token; when several
/// tokens spell the same bytes the lowest id wins (run.c's binary search picks one of them).
/// </remarks>
public sealed class Llama2cTokenizer : Tokenizer
{
    public const int BosToken = 1;
    public const int EosToken = 2;

    /// <summary>run.c's byte fallback: the first three tokens are &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, so byte b is token b + 3.</summary>
    private const int ByteTokenOffset = 3;

    /// <summary>run.c: a merge is taken only when its score beats the initial best of -1e10.</summary>
    private const float MergeScoreFloor = -1e10f;

    private static readonly Lazy<Llama2cTokenizer> s_stories260K = new(() =>
    {
        using var stream = typeof(Llama2cTokenizer).Assembly.GetManifestResourceStream("Terse.Assets.stories260K_tok512.bin")
            ?? throw new InvalidOperationException("the embedded stories260K tokenizer is missing from the assembly");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return FromBytes(memory.ToArray(), "stories260K", tokenCount: 512);
    });

    private readonly byte[][] _pieces;
    private readonly float[] _scores;
    private readonly ByteStringIndex _index;
    /// <summary>run.c's lookup of a one-byte group without hashing: the id, or -1.</summary>
    private readonly int[] _singleByteGroupIds;
    /// <summary>run.c's lookup of a 2–4 byte group (a byte and continuation bytes), keyed by its bytes packed little-endian.</summary>
    private readonly Dictionary<int, int> _multiByteGroupIds;
    private readonly SymbolMerger _merger;
    private readonly PieceDecoder _decoder;
    private readonly int _dummyPrefixId;
    private readonly byte[] _fingerprint;
    private readonly Dictionary<string, int> _specialTokens;
    private readonly LongestMatcher _specialMatcher;

    private Llama2cTokenizer(string name, Llama2cTokenizerFile file)
    {
        Name = name;
        MaxTokenLength = file.MaxTokenLength;
        _pieces = file.Pieces;
        _scores = file.Scores;
        int count = _pieces.Length;

        if (count < ByteTokenOffset + 256)
            throw new InvalidDataException($"llama2.c tokenizer: {count} tokens, but run.c's byte fallback needs tokens 3..258 to be <0x00>..<0xFF>");
        for (int b = 0; b < 256; b++)
        {
            if (!BytePiece.TryParse(_pieces[b + ByteTokenOffset], out byte value) || value != b)
                throw new InvalidDataException($"llama2.c tokenizer: token {b + ByteTokenOffset} is '{Printable(_pieces[b + ByteTokenOffset])}', but run.c's byte fallback needs <0x{b:X2}> there");
        }

        _index = new ByteStringIndex(count);
        for (int id = 0; id < count; id++)
            _index.TryAdd(_pieces[id], id);
        if (!_index.TryGet(" "u8, out _dummyPrefixId))
            throw new InvalidDataException("llama2.c tokenizer: there is no \" \" token, which run.c's dummy prefix needs");

        (_singleByteGroupIds, _multiByteGroupIds) = BuildGroupLookup();
        _merger = BuildMerger(BuildMerges());

        var output = new PieceOutput[count];
        var rendered = new byte[count][];
        for (int id = 0; id < count; id++)
        {
            if (id is BosToken or EosToken)
            {
                output[id] = PieceOutput.Nothing;
                rendered[id] = [];
            }
            else if (BytePiece.TryParse(_pieces[id], out byte value))
            {
                output[id] = PieceOutput.Byte;
                rendered[id] = [value];
            }
            else
            {
                output[id] = PieceOutput.Text;
                rendered[id] = _pieces[id];
            }
        }
        _decoder = new PieceDecoder(rendered, output, stripDummyPrefix: true);

        _specialTokens = new Dictionary<string, int>(StringComparer.Ordinal) { ["<s>"] = BosToken, ["</s>"] = EosToken };
        _specialMatcher = new LongestMatcher(_specialTokens);
        _fingerprint = ComputeFingerprint();
    }

    /// <summary>Loads a llama2.c <c>tokenizer.bin</c>.</summary>
    /// <param name="tokenCount">
    /// The model's vocabulary size when known (run.c reads exactly that many entries and ignores the
    /// rest of the file); null reads entries until the file ends, which must then be exactly at an entry boundary.
    /// </param>
    public static Llama2cTokenizer Load(string path, int? tokenCount = null) =>
        FromBytes(File.ReadAllBytes(path), Path.GetFileName(path), tokenCount);

    /// <summary>Parses the bytes of a <c>tokenizer.bin</c>; throws <see cref="InvalidDataException"/> when malformed.</summary>
    public static Llama2cTokenizer FromBytes(ReadOnlySpan<byte> data, string name, int? tokenCount = null) =>
        new(name, Llama2cTokenizerFile.Parse(data, tokenCount));

    /// <summary>stories260K's 512-token vocabulary (karpathy/tinyllamas, MIT), shipped inside the library.</summary>
    public static Llama2cTokenizer Stories260K => s_stories260K.Value;

    public override string Name { get; }

    public override int VocabularySize => _pieces.Length;

    /// <summary>BOS and EOS under their SentencePiece names (the file spells them "\n&lt;s&gt;\n", "\n&lt;/s&gt;\n").</summary>
    public override IReadOnlyDictionary<string, int> SpecialTokens => _specialTokens;

    public override int? BosId => BosToken;

    public override int? EosId => EosToken;

    public override ReadOnlySpan<byte> Fingerprint => _fingerprint;

    /// <summary>The header's max_token_length.</summary>
    public int MaxTokenLength { get; }

    /// <summary>The token's bytes as stored in the file (spaces already in place of ▁).</summary>
    public ReadOnlySpan<byte> PieceBytes(int token) => _pieces[CheckId(token)];

    public float Score(int token) => _scores[CheckId(token)];

    /// <summary>
    /// The bytes run.c prints for <paramref name="token"/> when it follows <paramref name="previousToken"/>
    /// during generation: its <c>decode</c> (after BOS a leading space is dropped; a <c>&lt;0xXX&gt;</c>
    /// piece is that byte) followed by its <c>safe_printf</c> (a one-byte piece that is neither
    /// printable nor whitespace prints nothing). Empty when run.c prints nothing. The caller keeps
    /// run.c's loop rules, e.g. stopping when BOS is sampled.
    /// </summary>
    public ReadOnlySpan<byte> GeneratedPieceBytes(int previousToken, int token) =>
        RunCPrinted(_pieces[CheckId(token)], afterBos: previousToken == BosToken);

    /// <summary>run.c's <c>decode</c> + <c>safe_printf</c> for one piece as llama2.c stores it.</summary>
    internal static ReadOnlySpan<byte> RunCPrinted(ReadOnlySpan<byte> piece, bool afterBos)
    {
        if (afterBos && piece.Length > 0 && piece[0] == (byte)' ')
            piece = piece[1..];
        if (BytePiece.TryParse(piece, out byte value))
            piece = s_singleBytes.AsSpan(value, 1);
        if (piece.Length == 1 && !IsPrintableOrSpace(piece[0]))
            return [];
        return piece;
    }

    private static readonly byte[] s_singleBytes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();

    /// <summary>C's <c>isprint || isspace</c> in the "C" locale.</summary>
    private static bool IsPrintableOrSpace(byte b) => b is >= 0x20 and <= 0x7E or >= 0x09 and <= 0x0D;

    public override void Encode(ReadOnlySpan<char> text, List<int> ids, EncodeOptions options)
    {
        if (options.AddBos)
            ids.Add(BosToken);
        if (!text.IsEmpty)
        {
            using var symbols = new SymbolBuffer(text.Length + 1);
            symbols.Add(_dummyPrefixId);
            if (options.AllowSpecialTokens)
            {
                int segmentStart = 0;
                for (int i = 0; i < text.Length;)
                {
                    int length = _specialMatcher.Match(text[i..], out int special);
                    if (length == 0)
                    {
                        i++;
                        continue;
                    }
                    AddText(symbols, text[segmentStart..i]);
                    symbols.AddFrozen(special);
                    i += length;
                    segmentStart = i;
                }
                AddText(symbols, text[segmentStart..]);
            }
            else
            {
                AddText(symbols, text);
            }
            MergeAndAppend(symbols, ids);
        }
        if (options.AddEos)
            ids.Add(EosToken);
    }

    /// <summary>
    /// run.c's encode applied to raw bytes: its UTF-8 grouping (a byte plus up to three following
    /// continuation bytes) already handles any byte sequence, and the byte tokens cover whatever is
    /// not in the vocabulary. Special tokens are not recognised in raw bytes.
    /// </summary>
    public override bool TryEncodeBytes(ReadOnlySpan<byte> bytes, List<int> ids, EncodeOptions options)
    {
        if (options.AddBos)
            ids.Add(BosToken);
        if (!bytes.IsEmpty)
        {
            using var symbols = new SymbolBuffer(bytes.Length + 1);
            symbols.Add(_dummyPrefixId);
            AddUtf8(symbols, bytes);
            MergeAndAppend(symbols, ids);
        }
        if (options.AddEos)
            ids.Add(EosToken);
        return true;
    }

    public override void DecodeToBytes(ReadOnlySpan<int> ids, IBufferWriter<byte> output) =>
        _decoder.Decode(ids, output, IdOutOfRange);

    /// <inheritdoc cref="SymbolMerger.ForgetCachedSegments"/>
    internal void ForgetCachedSegments() => _merger.ForgetCachedSegments();

    private void AddText(SymbolBuffer symbols, ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
            return;
        byte[] rented = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            int length = Encoding.UTF8.GetBytes(text, rented);
            AddUtf8(symbols, rented.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private void AddUtf8(SymbolBuffer symbols, ReadOnlySpan<byte> utf8)
    {
        for (int i = 0; i < utf8.Length;)
        {
            // run.c's grouping: a byte, then the continuation bytes (10xxxxxx) that follow it, at most four bytes.
            int start = i++;
            while (i < utf8.Length && (utf8[i] & 0xC0) == 0x80 && i - start < 4)
                i++;
            int id;
            if (i - start == 1)
            {
                id = _singleByteGroupIds[utf8[start]];
            }
            else
            {
                int packed = 0;
                for (int k = i - 1; k >= start; k--)
                    packed = (packed << 8) | utf8[k];
                if (!_multiByteGroupIds.TryGetValue(packed, out id))
                    id = -1;
            }
            if (id >= 0)
            {
                symbols.Add(id);
            }
            else
            {
                foreach (byte b in utf8[start..i])
                    symbols.Add(b + ByteTokenOffset);
            }
        }
    }

    private void MergeAndAppend(SymbolBuffer symbols, List<int> ids)
    {
        int count = _merger.Merge(symbols.Ids, symbols.Frozen);
        ids.AddRange(symbols.Ids[..count]);
    }

    /// <summary>
    /// Tables giving what <see cref="ByteStringIndex.TryGet"/> gives for the groups run.c forms. A
    /// multi-byte group's bytes after the first are continuation bytes, never zero, so packing them
    /// with zero padding is unambiguous; only pieces of that shape can match a group.
    /// </summary>
    private (int[] Single, Dictionary<int, int> Multi) BuildGroupLookup()
    {
        var single = new int[256];
        for (int b = 0; b < 256; b++)
            single[b] = _index.TryGet([(byte)b], out int id) ? id : -1;
        var multi = new Dictionary<int, int>();
        for (int id = 0; id < _pieces.Length; id++)
        {
            var piece = _pieces[id];
            if (piece.Length is < 2 or > 4 || piece.AsSpan(1).IndexOfAnyExceptInRange((byte)0x80, (byte)0xBF) >= 0)
                continue;
            int packed = 0;
            for (int k = piece.Length - 1; k >= 0; k--)
                packed = (packed << 8) | piece[k];
            _index.TryGet(piece, out int canonical);
            multi.TryAdd(packed, canonical);
        }
        return (single, multi);
    }

    /// <summary>
    /// The merger with its cut rule: the space symbol is the " " token, and a space can follow a
    /// symbol inside a merge result when some merged token has that symbol's last byte before a space.
    /// </summary>
    private SymbolMerger BuildMerger(PairMergeTable merges)
    {
        var beforeSpace = new bool[256];
        foreach (int id in merges.MergedIds())
        {
            var piece = _pieces[id];
            for (int k = 1; k < piece.Length; k++)
                if (piece[k] == (byte)' ')
                    beforeSpace[piece[k - 1]] = true;
        }
        return new SymbolMerger(merges, _pieces.Length, _dummyPrefixId,
            id => _pieces[id].Length == 0 || beforeSpace[_pieces[id][^1]]);
    }

    /// <summary>Every split of a mergeable token into two tokens (as byte strings), keyed by the two ids.</summary>
    private PairMergeTable BuildMerges()
    {
        var pairs = PairMergeTable.NewPairDictionary();
        for (int id = 0; id < _pieces.Length; id++)
        {
            // NaN, -inf and anything at or below the floor never beat run.c's initial best score.
            if (!(_scores[id] > MergeScoreFloor))
                continue;
            var piece = _pieces[id];
            if (!_index.TryGet(piece, out int canonical) || canonical != id)
                continue;
            for (int split = 1; split < piece.Length; split++)
            {
                if (_index.TryGet(piece.AsSpan(0, split), out int left) && _index.TryGet(piece.AsSpan(split), out int right))
                    pairs.TryAdd(PairMergeTable.Key(left, right), id);
            }
        }
        return new PairMergeTable(pairs, _scores);
    }

    private byte[] ComputeFingerprint()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> word = stackalloc byte[4];
        hash.AppendData("terse/tokenizer/llama2c/v1\n"u8);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(word, _pieces.Length);
        hash.AppendData(word);
        for (int id = 0; id < _pieces.Length; id++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(word, _scores[id]);
            hash.AppendData(word);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(word, _pieces[id].Length);
            hash.AppendData(word);
            hash.AppendData(_pieces[id]);
        }
        return hash.GetHashAndReset();
    }

    private int CheckId(int token) => (uint)token < (uint)_pieces.Length ? token : throw IdOutOfRange(token);

    internal static string Printable(ReadOnlySpan<byte> bytes)
    {
        var text = Encoding.UTF8.GetString(bytes);
        return text.Length > 40 ? text[..40] + "…" : text.Replace("\n", "\\n");
    }
}
