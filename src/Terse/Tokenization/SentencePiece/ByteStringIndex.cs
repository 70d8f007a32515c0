namespace Terse.Tokenization.SentencePiece;

/// <summary>
/// Exact byte-string → id lookup. Keys are stored as Latin-1 strings (one char per byte) so the
/// framework dictionary hashes them and spans can be looked up without allocating. When several ids
/// spell the same bytes the lowest id is kept.
/// </summary>
internal sealed class ByteStringIndex
{
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public ByteStringIndex(int capacity = 0)
    {
        _ids = new Dictionary<string, int>(capacity, StringComparer.Ordinal);
        _lookup = _ids.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Count => _ids.Count;

    /// <summary>Adds <paramref name="bytes"/> → <paramref name="id"/> unless the bytes are already present; returns whether it was added.</summary>
    public bool TryAdd(ReadOnlySpan<byte> bytes, int id) => _ids.TryAdd(ToLatin1(bytes), id);

    public bool TryGet(ReadOnlySpan<byte> bytes, out int id)
    {
        if (bytes.Length <= 256)
        {
            Span<char> chars = stackalloc char[bytes.Length];
            Widen(bytes, chars);
            return _lookup.TryGetValue(chars, out id);
        }
        return _ids.TryGetValue(ToLatin1(bytes), out id);
    }

    private static string ToLatin1(ReadOnlySpan<byte> bytes) =>
        string.Create(bytes.Length, bytes, static (chars, source) => Widen(source, chars));

    private static void Widen(ReadOnlySpan<byte> bytes, Span<char> chars)
    {
        for (int i = 0; i < bytes.Length; i++)
            chars[i] = (char)bytes[i];
    }
}

/// <summary>The <c>&lt;0xXX&gt;</c> spelling of byte pieces used by SentencePiece byte fallback and llama2.c.</summary>
internal static class BytePiece
{
    /// <summary>True when <paramref name="piece"/> is exactly <c>&lt;0x</c>, two hex digits, <c>&gt;</c>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> piece, out byte value)
    {
        value = 0;
        if (piece.Length != 6 || piece[0] != '<' || piece[1] != '0' || piece[2] != 'x' || piece[5] != '>')
            return false;
        int high = HexValue(piece[3]), low = HexValue(piece[4]);
        if (high < 0 || low < 0)
            return false;
        value = (byte)(high * 16 + low);
        return true;
    }

    /// <summary>The canonical spelling, upper-case hex as SentencePiece writes it.</summary>
    public static byte[] Spell(byte value) => System.Text.Encoding.ASCII.GetBytes($"<0x{value:X2}>");

    private static int HexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        _ => -1,
    };
}
