namespace Terse.Tokenization.SentencePiece;

/// <summary>SentencePiece's piece types (ModelProto.SentencePiece.Type; GGUF's token_type uses the same numbers).</summary>
public enum PieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>TrainerSpec.ModelType.</summary>
public enum SentencePieceModelType
{
    Unigram = 1,
    Bpe = 2,
    Word = 3,
    Char = 4,
}

/// <summary>
/// What a SentencePiece-style tokenizer needs, independent of the file it came from (a protobuf
/// <c>tokenizer.model</c> or a GGUF vocabulary): the pieces with scores and types, and the
/// normalizer and trainer settings that change encoding or decoding.
/// </summary>
internal sealed class SentencePieceModel
{
    public required string[] Pieces { get; init; }
    public required float[] Scores { get; init; }
    public required PieceType[] Types { get; init; }
    public SentencePieceModelType ModelType { get; init; } = SentencePieceModelType.Bpe;
    public bool ByteFallback { get; init; }
    public bool AddDummyPrefix { get; init; } = true;
    public bool RemoveExtraWhitespaces { get; init; }
    public bool EscapeWhitespaces { get; init; } = true;
    public bool TreatWhitespaceAsSuffix { get; init; }
    /// <summary>Non-empty when the normalizer uses a precompiled character map (NFKC and the like).</summary>
    public string NormalizerName { get; init; } = "identity";
    public bool HasPrecompiledCharsMap { get; init; }
    public bool HasDenormalizer { get; init; }
    public string UnkSurface { get; init; } = " \u2047 ";
    public string UnkPiece { get; init; } = "<unk>";
    public string BosPiece { get; init; } = "<s>";
    public string EosPiece { get; init; } = "</s>";
    public string PadPiece { get; init; } = "<pad>";
    /// <summary>Explicit special ids (GGUF stores ids instead of piece names); null: find them by piece name.</summary>
    public int? BosId { get; init; }
    public int? EosId { get; init; }
    public int? PadId { get; init; }
    /// <summary>Where the model came from, for error messages.</summary>
    public required string Source { get; init; }

    public const int MaxPieceCount = 1 << 22;

    /// <summary>Parses a serialized ModelProto (<c>tokenizer.model</c>).</summary>
    public static SentencePieceModel FromModelProto(ReadOnlySpan<byte> data, string source)
    {
        var pieces = new List<string>();
        var scores = new List<float>();
        var types = new List<PieceType>();
        var trainer = new TrainerFields();
        var normalizer = new NormalizerFields();
        bool hasDenormalizer = false;

        var reader = new ProtobufReader(data, 0, "ModelProto");
        while (reader.ReadTag())
        {
            switch (reader.Field)
            {
                case 1:
                {
                    var bytes = reader.ReadBytes(out int offset);
                    if (pieces.Count == MaxPieceCount)
                        throw reader.Error($"more than {MaxPieceCount} pieces");
                    ReadPiece(bytes, offset, pieces.Count, out var piece, out float score, out var type);
                    pieces.Add(piece);
                    scores.Add(score);
                    types.Add(type);
                    break;
                }
                case 2:
                {
                    var bytes = reader.ReadBytes(out int offset);
                    trainer.Merge(bytes, offset);
                    break;
                }
                case 3:
                {
                    var bytes = reader.ReadBytes(out int offset);
                    normalizer.Merge(bytes, offset, "ModelProto.normalizer_spec");
                    break;
                }
                case 5:
                {
                    var bytes = reader.ReadBytes(out int offset);
                    var denormalizer = new NormalizerFields();
                    denormalizer.Merge(bytes, offset, "ModelProto.denormalizer_spec");
                    hasDenormalizer |= denormalizer.PrecompiledCharsMapLength > 0;
                    break;
                }
                default:
                    reader.Skip();
                    break;
            }
        }

        if (pieces.Count == 0)
            throw new InvalidDataException($"{source}: the SentencePiece model has no pieces (is this a tokenizer.model file?)");

        return new SentencePieceModel
        {
            Source = source,
            Pieces = pieces.ToArray(),
            Scores = scores.ToArray(),
            Types = types.ToArray(),
            ModelType = trainer.ModelType,
            ByteFallback = trainer.ByteFallback,
            TreatWhitespaceAsSuffix = trainer.TreatWhitespaceAsSuffix,
            UnkSurface = trainer.UnkSurface ?? " \u2047 ",
            UnkPiece = NonEmptyOr(trainer.UnkPiece, "<unk>"),
            BosPiece = NonEmptyOr(trainer.BosPiece, "<s>"),
            EosPiece = NonEmptyOr(trainer.EosPiece, "</s>"),
            PadPiece = NonEmptyOr(trainer.PadPiece, "<pad>"),
            AddDummyPrefix = normalizer.AddDummyPrefix,
            RemoveExtraWhitespaces = normalizer.RemoveExtraWhitespaces,
            EscapeWhitespaces = normalizer.EscapeWhitespaces,
            NormalizerName = normalizer.Name ?? "",
            HasPrecompiledCharsMap = normalizer.PrecompiledCharsMapLength > 0,
            HasDenormalizer = hasDenormalizer,
        };
    }

    private static string NonEmptyOr(string? value, string fallback) => string.IsNullOrEmpty(value) ? fallback : value;

    private static void ReadPiece(ReadOnlySpan<byte> data, int offset, int index, out string piece, out float score, out PieceType type)
    {
        piece = "";
        score = 0;
        type = PieceType.Normal;
        bool hasPiece = false;
        var reader = new ProtobufReader(data, offset, $"ModelProto.pieces[{index}]");
        while (reader.ReadTag())
        {
            switch (reader.Field)
            {
                case 1:
                    piece = reader.ReadString();
                    hasPiece = true;
                    break;
                case 2:
                    score = reader.ReadFloat();
                    break;
                case 3:
                    ulong value = reader.ReadVarint();
                    if (value is < 1 or > 6)
                        throw reader.Error($"piece type {value} is not one of NORMAL(1)..BYTE(6)");
                    type = (PieceType)value;
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
        if (!hasPiece)
            throw new InvalidDataException($"ModelProto.pieces[{index}] at offset {offset} has no piece text");
    }

    /// <summary>The TrainerSpec fields that matter for encoding; proto2 merge semantics (last value wins).</summary>
    private sealed class TrainerFields
    {
        public SentencePieceModelType ModelType = SentencePieceModelType.Unigram;
        public bool ByteFallback;
        public bool TreatWhitespaceAsSuffix;
        public string? UnkSurface, UnkPiece, BosPiece, EosPiece, PadPiece;

        public void Merge(ReadOnlySpan<byte> data, int offset)
        {
            var reader = new ProtobufReader(data, offset, "ModelProto.trainer_spec");
            while (reader.ReadTag())
            {
                switch (reader.Field)
                {
                    case 3:
                        ulong type = reader.ReadVarint();
                        if (type is < 1 or > 4)
                            throw reader.Error($"model_type {type} is not one of UNIGRAM(1), BPE(2), WORD(3), CHAR(4)");
                        ModelType = (SentencePieceModelType)type;
                        break;
                    case 24: TreatWhitespaceAsSuffix = reader.ReadBool(); break;
                    case 35: ByteFallback = reader.ReadBool(); break;
                    case 44: UnkSurface = reader.ReadString(); break;
                    case 45: UnkPiece = reader.ReadString(); break;
                    case 46: BosPiece = reader.ReadString(); break;
                    case 47: EosPiece = reader.ReadString(); break;
                    case 48: PadPiece = reader.ReadString(); break;
                    default: reader.Skip(); break;
                }
            }
        }
    }

    private sealed class NormalizerFields
    {
        public string? Name;
        public int PrecompiledCharsMapLength;
        public bool AddDummyPrefix = true;
        public bool RemoveExtraWhitespaces = true;
        public bool EscapeWhitespaces = true;

        public void Merge(ReadOnlySpan<byte> data, int offset, string path)
        {
            var reader = new ProtobufReader(data, offset, path);
            while (reader.ReadTag())
            {
                switch (reader.Field)
                {
                    case 1: Name = reader.ReadString(); break;
                    case 2: PrecompiledCharsMapLength = reader.ReadBytes(out _).Length; break;
                    case 3: AddDummyPrefix = reader.ReadBool(); break;
                    case 4: RemoveExtraWhitespaces = reader.ReadBool(); break;
                    case 5: EscapeWhitespaces = reader.ReadBool(); break;
                    default: reader.Skip(); break;
                }
            }
        }
    }
}
