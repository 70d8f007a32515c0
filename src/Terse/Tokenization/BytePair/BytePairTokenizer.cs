using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Terse.IO;
using Terse.Tokenization.Normalization;
using Terse.Tokenization.PreTokenization;

namespace Terse.Tokenization.BytePair;

/// <summary>Normalization applied to text (outside special tokens) before pre-tokenization.</summary>
internal enum TextNormalization
{
    None,
    /// <summary>Unicode NFC (Qwen2).</summary>
    Nfc,
}

/// <summary>
/// A byte-level BPE tokenizer: special tokens are split out (when allowed), the rest is pre-tokenized
/// into pieces and each piece is byte-pair encoded. Serves tiktoken encodings and Hugging Face
/// byte-level BPE alike; the loaders differ only in how they build the parts.
/// </summary>
internal sealed class BytePairTokenizer : Tokenizer
{
    private const int StackTextLimit = 512;

    private readonly BytePairModel _model;
    private readonly PreTokenizer _preTokenizer;
    private readonly byte[] _tokenBytes;
    private readonly int[] _tokenOffsets;            // id i spells _tokenBytes[_tokenOffsets[i].._tokenOffsets[i + 1]]
    private readonly byte[] _kind;                   // per id: 0 unassigned, 1 regular, 2 special
    private readonly SpecialTokenMatcher? _specialMatcher;
    private readonly Dictionary<string, int> _specialTokens;
    private readonly IReadOnlyList<SpecialToken> _specialList;
    private readonly int? _bos, _eos;
    private readonly TextNormalization _normalization;
    private readonly bool _addPrefixSpace;
    private byte[]? _fingerprint;

    /// <param name="addPrefixSpace">Hugging Face ByteLevel's add_prefix_space: text not starting with a space gets one.</param>
    /// <param name="source">The file(s) it was read from, named in errors.</param>
    public BytePairTokenizer(string name, BytePairModel model, IReadOnlyList<byte[]?> regularTokens,
        IReadOnlyList<SpecialToken> specialTokens, PreTokenizer preTokenizer, int? bosId = null, int? eosId = null,
        TextNormalization normalization = TextNormalization.None, bool addPrefixSpace = false, string? source = null)
    {
        source ??= name;
        Name = name;
        _model = model;
        _preTokenizer = preTokenizer;
        _normalization = normalization;
        _addPrefixSpace = addPrefixSpace;

        int size = regularTokens.Count;
        foreach (var special in specialTokens)
        {
            // Ids index tables: one far beyond the vocabulary would make them huge for nothing.
            if (special.Id < 0 || special.Id >= regularTokens.Count + specialTokens.Count + Tiktoken.TiktokenRankFile.MaxRankSlack)
                throw new InvalidDataException($"{source}: special token '{special.Text}' has the implausible id {special.Id} for a vocabulary of {regularTokens.Count}");
            size = Math.Max(size, special.Id + 1);
        }
        var spelled = new byte[]?[size];
        _kind = new byte[size];
        for (int id = 0; id < regularTokens.Count; id++)
        {
            spelled[id] = regularTokens[id];
            if (regularTokens[id] is not null)
                _kind[id] = 1;
        }
        _specialTokens = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var special in specialTokens)
        {
            if (!_specialTokens.TryAdd(special.Text, special.Id))
                throw new InvalidDataException($"{source}: special token '{special.Text}' is defined twice");
            if (_kind[special.Id] == 2)
                throw new InvalidDataException($"{source}: special tokens '{special.Text}' and another share the id {special.Id}");
            // A special token may also be a vocabulary entry (GPT-2's <|endoftext|>); it decodes as its text.
            spelled[special.Id] = Encoding.UTF8.GetBytes(special.Text);
            _kind[special.Id] = 2;
        }
        _specialList = [.. specialTokens.OrderBy(s => s.Id)];
        _specialMatcher = specialTokens.Count > 0 ? new SpecialTokenMatcher(specialTokens) : null;

        long total = 0;
        foreach (var bytes in spelled)
            total += bytes?.Length ?? 0;
        _tokenBytes = new byte[total];
        _tokenOffsets = new int[size + 1];
        int offset = 0;
        for (int id = 0; id < size; id++)
        {
            _tokenOffsets[id] = offset;
            if (spelled[id] is { } bytes)
            {
                bytes.CopyTo(_tokenBytes, offset);
                offset += bytes.Length;
            }
        }
        _tokenOffsets[size] = offset;

        _bos = CheckControlId(bosId, "beginning-of-sequence", source);
        _eos = CheckControlId(eosId, "end-of-sequence", source);
    }

    private int? CheckControlId(int? id, string what, string source)
    {
        if (id is int value && ((uint)value >= (uint)_kind.Length || _kind[value] == 0))
            throw new InvalidDataException($"{source}: the {what} id {value} is not in the vocabulary");
        return id;
    }

    public override string Name { get; }

    public override int VocabularySize => _kind.Length;

    public override IReadOnlyDictionary<string, int> SpecialTokens => _specialTokens;

    public override int? BosId => _bos;

    public override int? EosId => _eos;

    internal PreTokenizer PreTokenizer => _preTokenizer;

    internal BytePairModel Model => _model;

    public override ReadOnlySpan<byte> Fingerprint => _fingerprint ??= ComputeFingerprint();

    /// <summary>
    /// The tiktoken-family scanners end a piece before such a cut whatever follows; normalization or a
    /// prefix space would treat each part as a text start, and a special token could span the cut.
    /// </summary>
    internal override bool CutsBeforeWords(EncodeOptions options) =>
        _preTokenizer is ScanningPreTokenizer && _normalization == TextNormalization.None && !_addPrefixSpace
        && (!options.AllowSpecialTokens || !_specialTokens.Keys.Any(text => text.Contains(' ') || text.Contains('\n')));

    public override void Encode(ReadOnlySpan<char> text, List<int> ids, EncodeOptions options)
    {
        if (options.AddBos && _bos is int bos)
            ids.Add(bos);
        int byteCount = Encoding.UTF8.GetByteCount(text);
        byte[]? rented = null;
        Span<byte> utf8 = byteCount <= StackTextLimit ? stackalloc byte[StackTextLimit] : (rented = ArrayPool<byte>.Shared.Rent(byteCount));
        try
        {
            // Lone surrogates become U+FFFD, as they do when tiktoken receives such a string.
            int written = Encoding.UTF8.GetBytes(text, utf8);
            EncodeValidUtf8(utf8[..written], ids, options.AllowSpecialTokens, transform: true);
        }
        finally
        {
            if (rented is not null)
                ArrayPool<byte>.Shared.Return(rented);
        }
        if (options.AddEos && _eos is int eos)
            ids.Add(eos);
    }

    /// <summary>
    /// Valid UTF-8 runs are encoded as text; each byte of an invalid sequence becomes its single-byte
    /// token, which every byte-level vocabulary has. Text is neither normalized (Qwen2's NFC) nor given a
    /// prefix space here, so that the bytes come back exactly; otherwise valid UTF-8 encodes as <see cref="Encode(ReadOnlySpan{char}, List{int}, EncodeOptions)"/> does.
    /// </summary>
    public override bool TryEncodeBytes(ReadOnlySpan<byte> bytes, List<int> ids, EncodeOptions options)
    {
        if (options.AddBos && _bos is int bos)
            ids.Add(bos);
        int position = 0;
        while (position < bytes.Length)
        {
            int valid = Utf8CodePoint.ValidPrefixLength(bytes[position..], out int invalid);
            EncodeValidUtf8(bytes.Slice(position, valid), ids, options.AllowSpecialTokens, transform: false);
            position += valid;
            for (int k = 0; k < invalid; k++)
                _model.EncodePiece(bytes.Slice(position + k, 1), ids);
            position += invalid;
        }
        if (options.AddEos && _eos is int eos)
            ids.Add(eos);
        return true;
    }

    private void EncodeValidUtf8(ReadOnlySpan<byte> utf8, List<int> ids, bool allowSpecialTokens, bool transform)
    {
        if (!allowSpecialTokens || _specialMatcher is null)
        {
            EncodeText(utf8, ids, transform);
            return;
        }
        int position = 0;
        while (_specialMatcher.FindNext(utf8, position, out int start, out int end, out int id))
        {
            EncodeText(utf8[position..start], ids, transform);
            ids.Add(id);
            position = end;
        }
        EncodeText(utf8[position..], ids, transform);
    }

    /// <summary>
    /// Encodes text between special tokens: normalization and prefix space (when <paramref name="transform"/>),
    /// pre-tokenization, BPE.
    /// </summary>
    private void EncodeText(ReadOnlySpan<byte> utf8, List<int> ids, bool transform)
    {
        if (utf8.IsEmpty)
            return;
        if (transform && _normalization == TextNormalization.Nfc && Nfc.MayChange(utf8))
            utf8 = Nfc.Normalize(utf8);
        if (transform && _addPrefixSpace && utf8[0] != (byte)' ')
        {
            var prefixed = new byte[utf8.Length + 1];
            prefixed[0] = (byte)' ';
            utf8.CopyTo(prefixed.AsSpan(1));
            utf8 = prefixed;
        }
        _preTokenizer.Encode(utf8, _model, ids);
    }

    public override void DecodeToBytes(ReadOnlySpan<int> ids, IBufferWriter<byte> output)
    {
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)_kind.Length || _kind[id] == 0)
                throw IdOutOfRange(id);
            int start = _tokenOffsets[id];
            output.Write(new ReadOnlySpan<byte>(_tokenBytes, start, _tokenOffsets[id + 1] - start));
        }
    }

    /// <summary>The bytes token <paramref name="id"/> stands for (empty for an unassigned id).</summary>
    internal ReadOnlySpan<byte> TokenBytes(int id) =>
        new(_tokenBytes, _tokenOffsets[id], _tokenOffsets[id + 1] - _tokenOffsets[id]);

    private byte[] ComputeFingerprint()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[10];
        void Number(long value) => hash.AppendData(buffer, 0, VarInt.Encode((ulong)value, buffer));
        void Text(string value)
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            Number(bytes.Length);
            hash.AppendData(bytes);
        }

        Text("terse.bytepair.v1");
        Text(_preTokenizer.Id);
        Number((int)_normalization);
        Number(_addPrefixSpace ? 1 : 0);
        Number(_model.WholePieceFirst ? 1 : 0);
        Number(_kind.Length);
        for (int id = 0; id < _kind.Length; id++)
        {
            Number(_kind[id]);
            var bytes = TokenBytes(id);
            Number(bytes.Length);
            hash.AppendData(bytes);
        }
        var rules = _model.Merges.Rules;
        Number(rules.Length);
        foreach (var rule in rules)
        {
            Number(rule.Priority);
            Number(rule.Left);
            Number(rule.Right);
            Number(rule.Merged);
        }
        Number(_specialList.Count);
        foreach (var special in _specialList)
        {
            Number(special.Id);
            Number((special.LStrip ? 1 : 0) | (special.RStrip ? 2 : 0));
        }
        Number((_bos ?? -1) + 1);
        Number((_eos ?? -1) + 1);
        return hash.GetHashAndReset();
    }
}
