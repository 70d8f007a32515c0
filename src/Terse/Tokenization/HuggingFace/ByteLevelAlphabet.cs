namespace Terse.Tokenization.HuggingFace;

/// <summary>
/// GPT-2's byte ↔ character mapping (<c>bytes_to_unicode</c>), with which Hugging Face byte-level
/// vocabularies spell bytes: printable Latin-1 bytes stand for themselves, the other 68 bytes for
/// U+0100… in byte order (so a space is written Ġ, a newline Ċ).
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildByteToChar();
    private static readonly short[] CharToByte = BuildCharToByte();

    public static char CharOf(byte b) => ByteToChar[b];

    public static string Spell(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
            chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }

    /// <summary>The bytes a vocabulary entry stands for; false when it has a character outside the alphabet.</summary>
    public static bool TryGetBytes(string token, out byte[] bytes)
    {
        bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            char c = token[i];
            if (c >= CharToByte.Length || CharToByte[c] < 0)
                return false;
            bytes[i] = (byte)CharToByte[c];
        }
        return true;
    }

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var map = new short[ByteToChar.Max() + 1];
        Array.Fill(map, (short)-1);
        for (int b = 0; b < 256; b++)
            map[ByteToChar[b]] = (short)b;
        return map;
    }
}
