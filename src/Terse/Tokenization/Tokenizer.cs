using System.Buffers;
using System.Text;

namespace Terse.Tokenization;

/// <summary>Options for <see cref="Tokenizer.Encode(string, EncodeOptions?)"/>.</summary>
/// <param name="AllowSpecialTokens">
/// When true, text spelling a special token (e.g. <c>&lt;|endoftext|&gt;</c>) becomes that token's id.
/// When false (the default) such text is encoded as ordinary text, so any user string round-trips.
/// </param>
/// <param name="AddBos">Prepend the beginning-of-sequence id (tokenizers that have one).</param>
/// <param name="AddEos">Append the end-of-sequence id (tokenizers that have one).</param>
public sealed record EncodeOptions(bool AllowSpecialTokens = false, bool AddBos = false, bool AddEos = false)
{
    public static EncodeOptions Default { get; } = new();
}

/// <summary>
/// Text ⇄ token ids for one vocabulary. Implementations are immutable after construction and safe
/// to use from several threads at once.
/// </summary>
public abstract class Tokenizer
{
    /// <summary>A short name: the built-in name (e.g. <c>cl100k_base</c>) or the file it was loaded from.</summary>
    public abstract string Name { get; }

    /// <summary>One past the largest id this tokenizer can produce or decode (special tokens included).</summary>
    public abstract int VocabularySize { get; }

    /// <summary>Special (control) tokens by their text.</summary>
    public abstract IReadOnlyDictionary<string, int> SpecialTokens { get; }

    public virtual int? BosId => null;
    public virtual int? EosId => null;

    /// <summary>
    /// SHA-256 over a canonical serialisation of the vocabulary, merges/scores and special tokens:
    /// two tokenizers with the same fingerprint encode and decode identically. Containers store it
    /// so that a file is never decoded with the wrong vocabulary.
    /// </summary>
    public abstract ReadOnlySpan<byte> Fingerprint { get; }

    /// <summary>Appends the ids of <paramref name="text"/> to <paramref name="ids"/>.</summary>
    public abstract void Encode(ReadOnlySpan<char> text, List<int> ids, EncodeOptions options);

    /// <summary>
    /// Encodes bytes that need not be valid UTF-8 (binary data, truncated text), so that
    /// <c>DecodeToBytes</c> gives them back exactly. Valid UTF-8 is encoded as <see cref="Encode(ReadOnlySpan{char}, List{int}, EncodeOptions)"/>
    /// would; other bytes become byte tokens. Returns false, appending nothing, when this vocabulary
    /// cannot represent arbitrary bytes (e.g. a SentencePiece model without byte fallback).
    /// </summary>
    public virtual bool TryEncodeBytes(ReadOnlySpan<byte> bytes, List<int> ids, EncodeOptions options) => false;

    /// <summary>
    /// Appends the bytes the ids stand for. Sequence-level rules (e.g. SentencePiece dropping the
    /// dummy-prefix space at the start) are applied, so <c>DecodeToBytes(Encode(s))</c> is the UTF-8 of s.
    /// Throws <see cref="ArgumentOutOfRangeException"/> for an id outside the vocabulary.
    /// </summary>
    public abstract void DecodeToBytes(ReadOnlySpan<int> ids, IBufferWriter<byte> output);

    /// <summary>
    /// True when encoding a text cut just before a word (a space and an ASCII letter after a visible
    /// ASCII character, or an ASCII letter after such a character and a line break), part by part,
    /// gives the ids of the whole: what <see cref="StreamingEncoder"/> needs.
    /// </summary>
    internal virtual bool CutsBeforeWords(EncodeOptions options) => false;

    public int[] Encode(string text, EncodeOptions? options = null)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        Encode(text.AsSpan(), ids, options ?? EncodeOptions.Default);
        return ids.ToArray();
    }

    /// <summary>Number of tokens <paramref name="text"/> encodes to. Overridden where counting is cheaper than encoding.</summary>
    public virtual int CountTokens(ReadOnlySpan<char> text, EncodeOptions? options = null)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        Encode(text, ids, options ?? EncodeOptions.Default);
        return ids.Count;
    }

    public byte[] DecodeToBytes(ReadOnlySpan<int> ids)
    {
        var buffer = new ArrayBufferWriter<byte>(ids.Length * 4 + 16);
        DecodeToBytes(ids, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Decodes to text; byte sequences that are not valid UTF-8 become U+FFFD.</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var buffer = new ArrayBufferWriter<byte>(ids.Length * 4 + 16);
        DecodeToBytes(ids, buffer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    protected ArgumentOutOfRangeException IdOutOfRange(int id) =>
        new(nameof(id), id, $"token id {id} is outside the vocabulary of '{Name}' (0..{VocabularySize - 1})");
}
