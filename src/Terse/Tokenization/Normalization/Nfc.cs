using System.IO.Compression;
using System.Text;
using Terse.IO;

namespace Terse.Tokenization.Normalization;

/// <summary>
/// Unicode Normalization Form C (canonical decomposition, canonical ordering, canonical composition,
/// UAX #15), as Qwen2's tokenizers apply to text before pre-tokenization. .NET's
/// <see cref="string.Normalize()"/> does nothing in invariant-globalization mode, which Terse runs in,
/// so the data ships with the library (<c>assets/unicode/nfc.bin.gz</c>, from
/// <c>scripts/generate-nfc-data.py</c>).
/// </summary>
internal static class Nfc
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private sealed class Tables
    {
        public required string UnicodeVersion;
        public required ulong[] Affected;                   // bit per code point
        public required Dictionary<int, byte> Classes;
        public required Dictionary<int, int[]> Decompositions;
        public required Dictionary<long, int> Compositions;
    }

    private static readonly Lazy<Tables> Data = new(Load);

    public static string UnicodeVersion => Data.Value.UnicodeVersion;

    /// <summary>
    /// False when <paramref name="utf8"/> (valid UTF-8) is certainly NFC already: no code point in it can
    /// be changed by normalization or change its neighbours. Below U+0300 nothing can.
    /// </summary>
    public static bool MayChange(ReadOnlySpan<byte> utf8)
    {
        int i = utf8.IndexOfAnyInRange((byte)0xCC, (byte)0xFF);
        if (i < 0)
            return false;
        var affected = Data.Value.Affected;
        // Back up to the lead byte of the code point that contains the first high byte.
        while (i > 0 && (utf8[i] & 0xC0) == 0x80)
            i--;
        while (i < utf8.Length)
        {
            int cp = PreTokenization.Utf8CodePoint.Decode(utf8, i, out int length);
            if ((affected[cp >> 6] & (1UL << cp)) != 0)
                return true;
            i += length;
        }
        return false;
    }

    /// <summary>The NFC form of valid UTF-8 text, as UTF-8.</summary>
    public static byte[] Normalize(ReadOnlySpan<byte> utf8)
    {
        var tables = Data.Value;
        var codePoints = new List<int>(utf8.Length);
        for (int i = 0; i < utf8.Length;)
        {
            int cp = PreTokenization.Utf8CodePoint.Decode(utf8, i, out int length);
            i += length;
            Decompose(tables, cp, codePoints);
        }
        ReorderCanonically(tables, codePoints);
        Compose(tables, codePoints);
        var text = new StringBuilder(codePoints.Count);
        foreach (int cp in codePoints)
            text.Append(char.ConvertFromUtf32(cp));
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static void Decompose(Tables tables, int cp, List<int> output)
    {
        if (cp is >= SBase and < SBase + SCount)
        {
            int s = cp - SBase;
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0)
                output.Add(TBase + s % TCount);
        }
        else if (tables.Decompositions.TryGetValue(cp, out var parts))
            output.AddRange(parts);
        else
            output.Add(cp);
    }

    private static int ClassOf(Tables tables, int cp) => tables.Classes.TryGetValue(cp, out byte c) ? c : 0;

    /// <summary>Stable sort of every run of non-starters by combining class.</summary>
    private static void ReorderCanonically(Tables tables, List<int> cps)
    {
        for (int i = 1; i < cps.Count; i++)
        {
            int c = ClassOf(tables, cps[i]);
            if (c == 0)
                continue;
            for (int j = i; j > 0; j--)
            {
                int previous = ClassOf(tables, cps[j - 1]);
                if (previous <= c)
                    break;
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
            }
        }
    }

    private static void Compose(Tables tables, List<int> cps)
    {
        if (cps.Count == 0)
            return;
        int starterPosition = 0;
        int starter = cps[0];
        int lastClass = ClassOf(tables, starter) == 0 ? 0 : 256; // a leading non-starter blocks composition
        int kept = 1;
        for (int i = 1; i < cps.Count; i++)
        {
            int cp = cps[i];
            int cls = ClassOf(tables, cp);
            int composite = ComposePair(tables, starter, cp);
            if (composite >= 0 && (lastClass < cls || lastClass == 0))
            {
                cps[starterPosition] = composite;
                starter = composite;
                continue;
            }
            if (cls == 0)
            {
                starterPosition = kept;
                starter = cp;
            }
            lastClass = cls;
            cps[kept++] = cp;
        }
        cps.RemoveRange(kept, cps.Count - kept);
    }

    private static int ComposePair(Tables tables, int first, int second)
    {
        if (first is >= LBase and < LBase + LCount && second is >= VBase and < VBase + VCount)
            return SBase + ((first - LBase) * VCount + (second - VBase)) * TCount;
        if (first is >= SBase and < SBase + SCount && (first - SBase) % TCount == 0 && second is > TBase and < TBase + TCount)
            return first + (second - TBase);
        return tables.Compositions.TryGetValue(((long)first << 21) | (uint)second, out int composite) ? composite : -1;
    }

    private static Tables Load()
    {
        const string resource = "Terse.Unicode.nfc.bin.gz";
        using var stream = typeof(Nfc).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"the library was built without its embedded asset {resource}");
        using var gzip = new GZipStream(stream, CompressionMode.Decompress);
        using var memory = new MemoryStream();
        gzip.CopyTo(memory);
        var data = memory.ToArray().AsSpan();
        if (!data.StartsWith("NFC1"u8))
            throw new InvalidDataException($"{resource}: bad magic");
        int p = 4;
        int Next(ref int position, ReadOnlySpan<byte> span) => VarInt.ReadBounded(span, ref position, 0x10FFFF, resource);
        int versionLength = Next(ref p, data);
        var version = Encoding.ASCII.GetString(data.Slice(p, versionLength));
        p += versionLength;

        var affected = new ulong[0x110000 / 64];
        int count = Next(ref p, data), previous = 0;
        for (int r = 0; r < count; r++)
        {
            int start = previous + Next(ref p, data);
            int end = start + Next(ref p, data);
            for (int cp = start; cp <= end; cp++)
                affected[cp >> 6] |= 1UL << cp;
            previous = end;
        }

        var classes = new Dictionary<int, byte>();
        count = Next(ref p, data);
        previous = 0;
        for (int k = 0; k < count; k++)
        {
            previous += Next(ref p, data);
            classes[previous] = data[p++];
        }

        var decompositions = new Dictionary<int, int[]>();
        count = Next(ref p, data);
        previous = 0;
        for (int k = 0; k < count; k++)
        {
            previous += Next(ref p, data);
            var parts = new int[Next(ref p, data)];
            for (int j = 0; j < parts.Length; j++)
                parts[j] = Next(ref p, data);
            decompositions[previous] = parts;
        }

        var compositions = new Dictionary<long, int>();
        count = Next(ref p, data);
        for (int k = 0; k < count; k++)
        {
            int first = Next(ref p, data), second = Next(ref p, data);
            compositions[((long)first << 21) | (uint)second] = Next(ref p, data);
        }
        return new Tables { UnicodeVersion = version, Affected = affected, Classes = classes, Decompositions = decompositions, Compositions = compositions };
    }
}
