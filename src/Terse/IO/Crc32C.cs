using System.Runtime.Intrinsics.X86;

namespace Terse.IO;

/// <summary>CRC-32C (Castagnoli), the checksum of Terse containers; hardware-accelerated where SSE4.2 exists.</summary>
public static class Crc32C
{
    private static readonly uint[] Table = BuildTable();

    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>Continues a checksum: <c>Append(Compute(a), b) == Compute(a ++ b)</c>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        uint state = ~crc;
        int i = 0;
        if (Sse42.X64.IsSupported)
        {
            ulong wide = state;
            for (; i + 8 <= data.Length; i += 8)
                wide = Sse42.X64.Crc32(wide, BitConverter.ToUInt64(data.Slice(i, 8)));
            state = (uint)wide;
        }
        for (; i < data.Length; i++)
            state = Table[(state ^ data[i]) & 0xFF] ^ (state >> 8);
        return ~state;
    }

    private static uint[] BuildTable()
    {
        const uint polynomial = 0x82F63B78; // reflected Castagnoli polynomial
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
                c = (c & 1) != 0 ? polynomial ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
