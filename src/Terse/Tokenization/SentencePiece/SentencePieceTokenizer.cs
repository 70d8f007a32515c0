using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Terse.Tokenization.SentencePiece;

/// <summary>
/// SentencePiece BPE (and CHAR) models as SentencePiece's own processor encodes them: identity
/// normalization (spaces become ▁, a dummy ▁ in front of non-empty text, optional removal of extra
/// spaces), user-defined pieces matched first and never merged, score-ordered merges of adjacent
/// symbols into NORMAL/USER_DEFINED/UNUSED pieces (ties: leftmost), UNUSED pieces split back, and
/// characters outside the vocabulary as <c>&lt;0xXX&gt;</c> byte pieces (byte fallback) or as one
/// unknown id per run of them.
/// </summary>
/// <remarks>
/// Beyond SentencePiece: with <see cref="EncodeOptions.AllowSpecialTokens"/> the spellings of CONTROL
/// pieces in the text become those ids (frozen, like user-defined pieces). Decoding writes CONTROL
/// pieces other than BOS/EOS/padding as their spelling (SentencePiece hides them all), so text that
/// spelled them decodes back to itself; BOS, EOS and padding are sequence markers and produce no text.
/// Unigram and word models and precompiled normalization maps (NFKC) are not implemented and are
/// refused with <see cref="NotSupportedException"/>.
/// </remarks>
public sealed class SentencePieceTokenizer : Tokenizer
{
    private const char SpaceSymbol = '\u2581';

    private readonly SentencePieceModel _model;
    private readonly int _unkId;
    private readonly int? _bosId, _eosId, _padId;
    private readonly int[] _byteIds;
    /// <summary>Pieces that merges can produce (NORMAL, USER_DEFINED, UNUSED) by text.</summary>
    private readonly Dictionary<string, int> _mergeable;
    /// <summary>Single code points → symbol id: a mergeable piece id, or a pseudo id (≥ piece count) for a character that is not itself a piece but occurs inside one.</summary>
    private readonly Dictionary<int, int> _symbolByCodePoint;
    /// <summary>The symbol of each BMP char, -1 - char when it has none: the per-character lookup without hashing.</summary>
    private readonly int[] _symbolByBmpChar;
    private readonly int[] _codePointOfPseudo;
    /// <summary>Single code points spelled by CONTROL or BYTE pieces: SentencePiece's PieceToId finds them after merging.</summary>
    private readonly Dictionary<int, int> _reservedByCodePoint;
    private readonly SymbolMerger _merger;
    private readonly bool _hasUnused;
    private readonly LongestMatcher _userDefined;
    private readonly LongestMatcher _control;
    private readonly Dictionary<string, int> _specialTokens;
    private readonly PieceDecoder _decoder;
    private readonly byte[] _fingerprint;

    internal SentencePieceTokenizer(SentencePieceModel model, string name)
    {
        _model = model;
        Name = name;
        Validate(model);
        int count = model.Pieces.Length;

        _mergeable = new Dictionary<string, int>(count, StringComparer.Ordinal);
        var reserved = new Dictionary<string, int>(StringComparer.Ordinal);
        _byteIds = new int[256];
        Array.Fill(_byteIds, -1);
        _unkId = -1;
        for (int id = 0; id < count; id++)
        {
            var type = model.Types[id];
            bool mergeable = type is PieceType.Normal or PieceType.UserDefined or PieceType.Unused;
            if (!(mergeable ? _mergeable : reserved).TryAdd(model.Pieces[id], id))
                throw new InvalidDataException($"{model.Source}: piece {id} '{model.Pieces[id]}' is already defined");
            _hasUnused |= type == PieceType.Unused;
            if (type == PieceType.Unknown)
            {
                if (_unkId >= 0)
                    throw new InvalidDataException($"{model.Source}: pieces {_unkId} and {id} are both of type UNKNOWN");
                _unkId = id;
            }
            if (type == PieceType.Byte)
            {
                if (!model.ByteFallback)
                    throw new InvalidDataException($"{model.Source}: byte piece {id} '{model.Pieces[id]}' although byte_fallback is false");
                if (!BytePiece.TryParse(Encoding.UTF8.GetBytes(model.Pieces[id]), out byte value) || model.Pieces[id] != $"<0x{value:X2}>")
                    throw new InvalidDataException($"{model.Source}: byte piece {id} '{model.Pieces[id]}' is not of the form <0xXX>");
                _byteIds[value] = id;
            }
        }
        if (_unkId < 0)
            throw new InvalidDataException($"{model.Source}: no piece of type UNKNOWN");
        if (model.ByteFallback && Array.IndexOf(_byteIds, -1) is int missing and >= 0)
            throw new InvalidDataException($"{model.Source}: byte_fallback is set but there is no byte piece <0x{missing:X2}>");

        _bosId = SpecialId(model.BosId, model.BosPiece, reserved, "BOS");
        _eosId = SpecialId(model.EosId, model.EosPiece, reserved, "EOS");
        _padId = SpecialId(model.PadId, model.PadPiece, reserved, "padding");

        _reservedByCodePoint = new Dictionary<int, int>();
        foreach (var (piece, id) in reserved)
            if (model.Types[id] is PieceType.Control or PieceType.Byte && SingleCodePoint(piece) is int cp)
                _reservedByCodePoint.TryAdd(cp, id);

        _symbolByCodePoint = new Dictionary<int, int>();
        foreach (var (piece, id) in _mergeable)
            if (SingleCodePoint(piece) is int cp)
                _symbolByCodePoint[cp] = id;
        var pseudo = new List<int>();
        var merges = model.ModelType == SentencePieceModelType.Bpe
            ? BuildMerges(pseudo)
            : new PairMergeTable(PairMergeTable.NewPairDictionary(), model.Scores);
        _codePointOfPseudo = pseudo.ToArray();
        _symbolByBmpChar = new int[char.MaxValue + 1];
        for (int c = 0; c <= char.MaxValue; c++)
            _symbolByBmpChar[c] = _symbolByCodePoint.TryGetValue(c, out int symbol) ? symbol : -1 - c;
        _merger = BuildMerger(merges);

        _userDefined = new LongestMatcher(_mergeable.Where(p => model.Types[p.Value] == PieceType.UserDefined));
        _specialTokens = reserved.Where(p => model.Types[p.Value] == PieceType.Control)
            .OrderBy(p => p.Value)
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        _control = new LongestMatcher(_specialTokens);
        _decoder = BuildDecoder();
        _fingerprint = ComputeFingerprint();
    }

    /// <summary>Loads a SentencePiece <c>tokenizer.model</c> (serialized ModelProto).</summary>
    public static SentencePieceTokenizer Load(string path) => FromBytes(File.ReadAllBytes(path), Path.GetFileName(path));

    /// <summary>Parses a serialized ModelProto; <see cref="InvalidDataException"/> when malformed, <see cref="NotSupportedException"/> for unimplemented model kinds.</summary>
    public static SentencePieceTokenizer FromBytes(ReadOnlySpan<byte> data, string name) =>
        new(SentencePieceModel.FromModelProto(data, name), name);

    public override string Name { get; }

    public override int VocabularySize => _model.Pieces.Length;

    /// <summary>The CONTROL pieces by their spelling (BOS and EOS included).</summary>
    public override IReadOnlyDictionary<string, int> SpecialTokens => _specialTokens;

    public override int? BosId => _bosId;

    public override int? EosId => _eosId;

    public int UnknownId => _unkId;

    public bool ByteFallback => _model.ByteFallback;

    public SentencePieceModelType ModelType => _model.ModelType;

    public override ReadOnlySpan<byte> Fingerprint => _fingerprint;

    /// <summary>The piece as stored (with ▁ for spaces).</summary>
    public string Piece(int id) => _model.Pieces[CheckId(id)];

    public float Score(int id) => _model.Scores[CheckId(id)];

    public PieceType TypeOf(int id) => _model.Types[CheckId(id)];

    /// <summary>
    /// What karpathy/llama2.c's run.c would print for <paramref name="token"/> after
    /// <paramref name="previousToken"/> if this vocabulary were exported to its <c>tokenizer.bin</c>
    /// (▁ as a space, BOS/EOS as "\n&lt;s&gt;\n"/"\n&lt;/s&gt;\n"): see
    /// <see cref="Llama2c.Llama2cTokenizer.GeneratedPieceBytes"/>. Lets a llama2.c model trained on a
    /// SentencePiece vocabulary (e.g. BabyLlama's tok105, which has no .bin) print as run.c does.
    /// </summary>
    public ReadOnlySpan<byte> GeneratedPieceBytes(int previousToken, int token)
    {
        _llama2cPieces ??= ExportLlama2cPieces();
        return Llama2c.Llama2cTokenizer.RunCPrinted(_llama2cPieces[CheckId(token)], afterBos: previousToken == _bosId);
    }

    private byte[][]? _llama2cPieces;

    /// <summary>The pieces as llama2.c's tokenizer export writes them.</summary>
    private byte[][] ExportLlama2cPieces() =>
        Enumerable.Range(0, _model.Pieces.Length).Select(id =>
            id == _bosId ? "\n<s>\n"u8.ToArray()
            : id == _eosId ? "\n</s>\n"u8.ToArray()
            : Encoding.UTF8.GetBytes(_model.Pieces[id].Replace(SpaceSymbol, ' '))).ToArray();

    public override void Encode(ReadOnlySpan<char> text, List<int> ids, EncodeOptions options)
    {
        if (options.AddBos && _bosId is int bos)
            ids.Add(bos);
        if (options.AllowSpecialTokens && !_control.IsEmpty)
            EncodeWithControlPieces(text, ids);
        else
            EncodeUnits(text, default, ids);
        if (options.AddEos && _eosId is int eos)
            ids.Add(eos);
    }

    /// <summary>The spellings of CONTROL pieces in <paramref name="text"/> become opaque units with their ids.</summary>
    private void EncodeWithControlPieces(ReadOnlySpan<char> text, List<int> ids)
    {
        InputUnits? input = null;
        try
        {
            int segmentStart = 0;
            for (int i = 0; i < text.Length;)
            {
                int length = _control.Match(text[i..], out int special);
                if (length == 0)
                {
                    i++;
                    continue;
                }
                input ??= new InputUnits(text.Length + 1);
                input.AddText(text[segmentStart..i]);
                input.AddOpaque(special);
                i += length;
                segmentStart = i;
            }
            if (input is null)
            {
                EncodeUnits(text, default, ids);
                return;
            }
            input.AddText(text[segmentStart..]);
            EncodeUnits(input.Text, input.Opaque, ids);
        }
        finally
        {
            input?.Dispose();
        }
    }

    /// <summary>
    /// Valid UTF-8 runs are encoded as text; every byte that is not part of valid UTF-8 becomes its
    /// byte piece. Needs byte fallback; special tokens are not recognised in raw bytes.
    /// </summary>
    public override bool TryEncodeBytes(ReadOnlySpan<byte> bytes, List<int> ids, EncodeOptions options)
    {
        if (!_model.ByteFallback)
            return false;
        if (options.AddBos && _bosId is int bos)
            ids.Add(bos);
        using (var input = new InputUnits(bytes.Length + 1))
        {
            while (!bytes.IsEmpty)
            {
                var status = Rune.DecodeFromUtf8(bytes, out var rune, out int consumed);
                if (status == OperationStatus.Done)
                    input.AddRune(rune);
                else
                    input.AddOpaque(_byteIds[bytes[0]]);
                bytes = bytes[(status == OperationStatus.Done ? consumed : 1)..];
            }
            EncodeUnits(input.Text, input.Opaque, ids);
        }
        if (options.AddEos && _eosId is int eos)
            ids.Add(eos);
        return true;
    }

    public override void DecodeToBytes(ReadOnlySpan<int> ids, IBufferWriter<byte> output) =>
        _decoder.Decode(ids, output, IdOutOfRange);

    /// <inheritdoc cref="SymbolMerger.ForgetCachedSegments"/>
    internal void ForgetCachedSegments() => _merger.ForgetCachedSegments();

    /// <summary>
    /// SentencePiece's normalizer on the input units, then symbols: opaque units (special tokens,
    /// raw bytes) and user-defined matches are frozen, other characters become merge symbols.
    /// </summary>
    /// <param name="units">The text as UTF-16 units.</param>
    /// <param name="opaque">Empty, or per unit: the id of an opaque unit, -1 for text.</param>
    private void EncodeUnits(ReadOnlySpan<char> units, ReadOnlySpan<int> opaque, List<int> ids)
    {
        bool hasOpaque = !opaque.IsEmpty;
        int start = 0, end = units.Length;
        if (_model.RemoveExtraWhitespaces)
        {
            while (start < end && units[start] == ' ' && !(hasOpaque && opaque[start] >= 0))
                start++;
            while (end > start && units[end - 1] == ' ' && !(hasOpaque && opaque[end - 1] >= 0))
                end--;
        }
        if (start == end)
            return;

        // Normalize: spaces to the space symbol (runs collapsed when removing extra whitespace),
        // a dummy prefix in front; opaque units carried along at their positions.
        char space = _model.EscapeWhitespaces ? SpaceSymbol : ' ';
        int capacity = end - start + 1;
        char[] normalized = ArrayPool<char>.Shared.Rent(capacity);
        int[]? normalizedOpaque = hasOpaque ? ArrayPool<int>.Shared.Rent(capacity) : null;
        int length = 0;
        try
        {
            if (_model.AddDummyPrefix)
                Append(space, -1);
            bool previousWasSpace = _model.RemoveExtraWhitespaces;
            for (int i = start; i < end; i++)
            {
                if (hasOpaque && opaque[i] >= 0)
                {
                    Append('\0', opaque[i]);
                    previousWasSpace = false;
                    continue;
                }
                char c = units[i];
                if (c == ' ')
                {
                    if (previousWasSpace)
                        continue;
                    Append(space, -1);
                    previousWasSpace = _model.RemoveExtraWhitespaces;
                }
                else
                {
                    Append(c, -1);
                    previousWasSpace = false;
                }
            }
            EncodeNormalized(normalized.AsSpan(0, length), normalizedOpaque is null ? default : normalizedOpaque.AsSpan(0, length), ids);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(normalized);
            if (normalizedOpaque is not null)
                ArrayPool<int>.Shared.Return(normalizedOpaque);
        }

        void Append(char c, int opaqueId)
        {
            normalized[length] = c;
            if (normalizedOpaque is not null)
                normalizedOpaque[length] = opaqueId;
            length++;
        }
    }

    /// <summary>Symbols of the normalized text, merged, written as ids.</summary>
    private void EncodeNormalized(ReadOnlySpan<char> text, ReadOnlySpan<int> opaque, List<int> ids)
    {
        using var symbols = new SymbolBuffer(text.Length);
        int nextOpaque = NextOpaque(opaque, 0, text.Length);
        for (int i = 0; i < text.Length;)
        {
            if (i == nextOpaque)
            {
                symbols.AddFrozen(opaque[i]);
                nextOpaque = NextOpaque(opaque, ++i, text.Length);
                continue;
            }
            char c = text[i];
            if (_userDefined.MayStartWith(c))
            {
                // User-defined pieces are matched within the text up to the next opaque unit.
                int matched = _userDefined.Match(text[i..nextOpaque], out int userDefinedId);
                if (matched > 0)
                {
                    symbols.AddFrozen(userDefinedId);
                    i += matched;
                    continue;
                }
            }
            if (!char.IsSurrogate(c))
            {
                symbols.Add(_symbolByBmpChar[c]);
                i++;
            }
            else if (char.IsHighSurrogate(c) && i + 1 < nextOpaque && char.IsLowSurrogate(text[i + 1]))
            {
                int codePoint = char.ConvertToUtf32(c, text[i + 1]);
                symbols.Add(_symbolByCodePoint.TryGetValue(codePoint, out int symbol) ? symbol : -1 - codePoint);
                i += 2;
            }
            else
            {
                symbols.Add(_symbolByBmpChar[0xFFFD]); // a lone surrogate reads as U+FFFD
                i++;
            }
        }

        Dictionary<int, (int Left, int Right)>? splitOfUnused = null;
        Action<int, int, int>? onCandidate = null;
        if (_hasUnused)
        {
            splitOfUnused = new Dictionary<int, (int, int)>();
            onCandidate = (merged, left, right) =>
            {
                if (_model.Types[merged] == PieceType.Unused)
                    splitOfUnused[merged] = (left, right);
            };
        }
        int count = _merger.Merge(symbols.Ids, symbols.Frozen, onCandidate);

        bool previousUnknown = false;
        foreach (int symbol in symbols.Ids[..count])
            Emit(symbol, ids, splitOfUnused, ref previousUnknown);
    }

    private static int NextOpaque(ReadOnlySpan<int> opaque, int from, int length)
    {
        if (opaque.IsEmpty)
            return length;
        int found = opaque[from..length].IndexOfAnyExceptInRange(int.MinValue, -1);
        return found < 0 ? length : from + found;
    }

    /// <summary>Writes the ids for one merged symbol: UNUSED pieces split back, unknown characters to bytes or one unknown id per run.</summary>
    private void Emit(int symbol, List<int> ids, Dictionary<int, (int Left, int Right)>? splitOfUnused, ref bool previousUnknown)
    {
        int count = _model.Pieces.Length;
        if (symbol >= 0 && symbol < count)
        {
            if (splitOfUnused is not null && _model.Types[symbol] == PieceType.Unused && splitOfUnused.TryGetValue(symbol, out var split))
            {
                Emit(split.Left, ids, splitOfUnused, ref previousUnknown);
                Emit(split.Right, ids, splitOfUnused, ref previousUnknown);
                return;
            }
            ids.Add(symbol);
            previousUnknown = symbol == _unkId;
            return;
        }
        int codePoint = symbol >= count ? _codePointOfPseudo[symbol - count] : -1 - symbol;
        if (_reservedByCodePoint.TryGetValue(codePoint, out int reservedId) && reservedId != _unkId)
        {
            ids.Add(reservedId);
            previousUnknown = false;
            return;
        }
        if (_model.ByteFallback)
        {
            Span<byte> utf8 = stackalloc byte[4];
            int written = new Rune(codePoint).EncodeToUtf8(utf8);
            foreach (byte b in utf8[..written])
                ids.Add(_byteIds[b]);
            previousUnknown = false;
            return;
        }
        // SentencePiece merges a run of unknown characters into one unknown piece.
        if (!previousUnknown)
            ids.Add(_unkId);
        previousUnknown = true;
    }

    /// <summary>
    /// Every split of a mergeable piece at a code point boundary into two symbols. A side that is a
    /// single character without a piece of its own gets a pseudo id, since SentencePiece merges
    /// by string and such a character can still combine with its neighbour.
    /// </summary>
    private PairMergeTable BuildMerges(List<int> pseudoCodePoints)
    {
        int count = _model.Pieces.Length;
        var lookup = _mergeable.GetAlternateLookup<ReadOnlySpan<char>>();
        var pairs = PairMergeTable.NewPairDictionary();
        foreach (var (piece, id) in _mergeable)
        {
            for (int split = 1; split < piece.Length; split++)
            {
                if (char.IsLowSurrogate(piece[split]) && char.IsHighSurrogate(piece[split - 1]))
                    continue;
                if (SymbolOf(piece.AsSpan(0, split)) is int left && SymbolOf(piece.AsSpan(split)) is int right)
                    pairs.TryAdd(PairMergeTable.Key(left, right), id);
            }
        }
        return new PairMergeTable(pairs, _model.Scores);

        int? SymbolOf(ReadOnlySpan<char> part)
        {
            if (lookup.TryGetValue(part, out int id))
                return id;
            if (SingleCodePoint(part) is not int codePoint)
                return null;
            if (!_symbolByCodePoint.TryGetValue(codePoint, out int symbol))
            {
                symbol = count + pseudoCodePoints.Count;
                pseudoCodePoints.Add(codePoint);
                _symbolByCodePoint[codePoint] = symbol;
            }
            return symbol;
        }
    }

    /// <summary>
    /// The merger with its cut rule: the space symbol, and which symbols a space can follow inside
    /// a merge result (by the code point they spell; see <see cref="SymbolMerger"/>).
    /// </summary>
    private SymbolMerger BuildMerger(PairMergeTable merges)
    {
        char space = _model.EscapeWhitespaces ? SpaceSymbol : ' ';
        var beforeSpace = new HashSet<int>();
        foreach (int id in merges.MergedIds())
        {
            string piece = _model.Pieces[id];
            for (int k = 1; k < piece.Length; k++)
            {
                if (piece[k] != space)
                    continue;
                bool pair = k >= 2 && char.IsSurrogatePair(piece[k - 2], piece[k - 1]);
                beforeSpace.Add(pair ? char.ConvertToUtf32(piece[k - 2], piece[k - 1]) : piece[k - 1]);
            }
        }
        int pieceCount = _model.Pieces.Length;
        int symbolCount = pieceCount + _codePointOfPseudo.Length;
        int spaceSymbol = _symbolByBmpChar[space];
        return new SymbolMerger(merges, symbolCount, spaceSymbol < 0 ? -1 : spaceSymbol, id =>
        {
            int? codePoint = id < pieceCount ? SingleCodePoint(_model.Pieces[id]) : _codePointOfPseudo[id - pieceCount];
            return codePoint is not int cp || beforeSpace.Contains(cp);
        });
    }

    private PieceDecoder BuildDecoder()
    {
        int count = _model.Pieces.Length;
        var rendered = new byte[count][];
        var output = new PieceOutput[count];
        for (int id = 0; id < count; id++)
        {
            string piece = _model.Pieces[id];
            switch (_model.Types[id])
            {
                case PieceType.Control when id == _bosId || id == _eosId || id == _padId:
                    output[id] = PieceOutput.Nothing;
                    rendered[id] = [];
                    break;
                case PieceType.Control:
                    output[id] = PieceOutput.Literal;
                    rendered[id] = Encoding.UTF8.GetBytes(piece);
                    break;
                case PieceType.Unknown:
                    output[id] = PieceOutput.Literal;
                    rendered[id] = Encoding.UTF8.GetBytes(_model.UnkSurface);
                    break;
                case PieceType.Byte:
                    output[id] = PieceOutput.Byte;
                    BytePiece.TryParse(Encoding.ASCII.GetBytes(piece), out byte value);
                    rendered[id] = [value];
                    break;
                default:
                    output[id] = PieceOutput.Text;
                    rendered[id] = Encoding.UTF8.GetBytes(piece.Replace(SpaceSymbol, ' '));
                    break;
            }
        }
        bool strip = _model.AddDummyPrefix || _model.RemoveExtraWhitespaces;
        return new PieceDecoder(rendered, output, strip, _model.RemoveExtraWhitespaces);
    }

    private byte[] ComputeFingerprint()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var word = new byte[4];
        void Int(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(word, value);
            hash.AppendData(word);
        }
        void Text(string value)
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            Int(bytes.Length);
            hash.AppendData(bytes);
        }
        hash.AppendData("terse/tokenizer/sentencepiece/v1\n"u8);
        Int((int)_model.ModelType);
        Int((_model.ByteFallback ? 1 : 0) | (_model.AddDummyPrefix ? 2 : 0) | (_model.RemoveExtraWhitespaces ? 4 : 0) | (_model.EscapeWhitespaces ? 8 : 0));
        Int(_unkId);
        Int(_bosId ?? -1);
        Int(_eosId ?? -1);
        Int(_padId ?? -1);
        Text(_model.UnkSurface);
        Int(_model.Pieces.Length);
        for (int id = 0; id < _model.Pieces.Length; id++)
        {
            Int((int)_model.Types[id]);
            BinaryPrimitives.WriteSingleLittleEndian(word, _model.Scores[id]);
            hash.AppendData(word);
            Text(_model.Pieces[id]);
        }
        return hash.GetHashAndReset();
    }

    private static void Validate(SentencePieceModel model)
    {
        if (model.ModelType is not (SentencePieceModelType.Bpe or SentencePieceModelType.Char))
            throw new NotSupportedException($"{model.Source}: SentencePiece model type {model.ModelType.ToString().ToUpperInvariant()} is not supported (only BPE and CHAR)");
        if (model.HasPrecompiledCharsMap)
            throw new NotSupportedException($"{model.Source}: the normalizer '{model.NormalizerName}' uses a precompiled character map, which is not supported (only identity normalization)");
        if (model.HasDenormalizer)
            throw new NotSupportedException($"{model.Source}: denormalization rules are not supported");
        if (model.TreatWhitespaceAsSuffix)
            throw new NotSupportedException($"{model.Source}: treat_whitespace_as_suffix is not supported");
        for (int id = 0; id < model.Pieces.Length; id++)
        {
            if (model.Pieces[id].Length == 0)
                throw new InvalidDataException($"{model.Source}: piece {id} is empty");
            if (model.Pieces[id].Contains('\0'))
                throw new InvalidDataException($"{model.Source}: piece {id} contains a NUL character");
            if (float.IsNaN(model.Scores[id]))
                throw new InvalidDataException($"{model.Source}: piece {id} has a NaN score");
        }
    }

    private int? SpecialId(int? explicitId, string piece, Dictionary<string, int> reserved, string what)
    {
        if (explicitId is int id)
        {
            if (id < 0)
                return null;
            if (id >= _model.Pieces.Length)
                throw new InvalidDataException($"{_model.Source}: {what} id {id} is outside the {_model.Pieces.Length} pieces");
            return id;
        }
        // SentencePiece: the id of the piece with that name, if it is a CONTROL piece.
        return reserved.TryGetValue(piece, out int found) && _model.Types[found] == PieceType.Control ? found : null;
    }

    private static int? SingleCodePoint(ReadOnlySpan<char> text)
    {
        if (text.Length == 1 && !char.IsSurrogate(text[0]))
            return text[0];
        if (text.Length == 2 && char.IsSurrogatePair(text[0], text[1]))
            return char.ConvertToUtf32(text[0], text[1]);
        return null;
    }

    private int CheckId(int id) => (uint)id < (uint)_model.Pieces.Length ? id : throw IdOutOfRange(id);

    /// <summary>The text to normalize as UTF-16 units, with opaque ids (special tokens, raw bytes) at their own positions; rented arrays.</summary>
    private sealed class InputUnits(int capacity) : IDisposable
    {
        private char[] _text = ArrayPool<char>.Shared.Rent(capacity);
        private int[] _opaque = ArrayPool<int>.Shared.Rent(capacity);
        private int _count;

        public ReadOnlySpan<char> Text => _text.AsSpan(0, _count);
        public ReadOnlySpan<int> Opaque => _opaque.AsSpan(0, _count);

        public void AddText(ReadOnlySpan<char> text)
        {
            EnsureRoom(text.Length);
            text.CopyTo(_text.AsSpan(_count));
            _opaque.AsSpan(_count, text.Length).Fill(-1);
            _count += text.Length;
        }

        public void AddRune(Rune rune)
        {
            Span<char> chars = stackalloc char[2];
            AddText(chars[..rune.EncodeToUtf16(chars)]);
        }

        public void AddOpaque(int id)
        {
            EnsureRoom(1);
            _text[_count] = '\0';
            _opaque[_count++] = id;
        }

        private void EnsureRoom(int more)
        {
            if (_count + more <= _text.Length)
                return;
            int length = Math.Max(_text.Length * 2, _count + more);
            var text = ArrayPool<char>.Shared.Rent(length);
            var opaque = ArrayPool<int>.Shared.Rent(length);
            Text.CopyTo(text);
            Opaque.CopyTo(opaque);
            Dispose();
            (_text, _opaque) = (text, opaque);
        }

        public void Dispose()
        {
            ArrayPool<char>.Shared.Return(_text);
            ArrayPool<int>.Shared.Return(_opaque);
            _text = [];
            _opaque = [];
        }
    }
}
