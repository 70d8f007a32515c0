using System.Globalization;
using Terse.ZTokens;

namespace Terse.Benchmarks.ZTokens;

/// <summary>
/// <c>ztokens-container MODEL_DIR TEXT… [--kb N]</c>: the bytes of a text's TZTK file in version 2
/// (range-coded residuals, what <c>compress -m ztokens</c> writes) against version 1 (13-bit
/// corrections) with the same greedy codes, and the entropy coder on the same base model. Both
/// containers are decompressed and compared with the input.
/// </summary>
public static class ZTokenContainerCommand
{
    public static int Run(string[] args)
    {
        var files = args.TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
        if (files.Length < 2)
        {
            Console.Error.WriteLine("usage: ztokens-container MODEL_DIR TEXT… [--kb N]");
            return 2;
        }
        int kilobytes = ZTokenBench.IntOption(args, "--kb", 100);
        var (model, tokenizer) = ZTokenBench.Load(files[0]);
        var compressor = new ZTokenCompressor(model, tokenizer);
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"model {files[0]}, base {model.BaseName}; the first {kilobytes} KB of each file (cut at a line end)");
        Console.WriteLine("| text | bytes | tokens | TZTK v1 (corrections) | TZTK v2 (residuals) | v2 / v1 | entropy coder | v2 / entropy | v2 bits/byte |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (string path in files[1..])
        {
            var input = Head(File.ReadAllBytes(path), kilobytes * 1000);
            var ids = tokenizer.Encode(System.Text.Encoding.UTF8.GetString(input));
            if (!tokenizer.DecodeToBytes(ids).AsSpan().SequenceEqual(input))
                throw new InvalidDataException($"{path}: the tokenizer does not round-trip it");
            var (version2, report) = compressor.Compress(input, ids, verify: true);
            if (report.Exact != true)
                throw new InvalidOperationException($"{path}: version 2 did not round-trip");
            var version1 = VersionOne(model, compressor, version2, ids);
            if (!compressor.Decompress(version1).AsSpan().SequenceEqual(input))
                throw new InvalidOperationException($"{path}: version 1 did not round-trip");
            var (entropy, _) = Terse.EntropyCoding.EntropyCompression.Compress(input, model.BaseName, null);
            Console.WriteLine(string.Create(inv,
                $"| {Path.GetFileName(path)} | {input.Length:N0} | {ids.Length:N0} | {version1.Length:N0} | {version2.Length:N0} | {(double)version2.Length / version1.Length:0.000} | {entropy.Length:N0} | {(double)version2.Length / entropy.Length:0.00} | {8.0 * version2.Length / input.Length:0.000} |"));
        }
        return 0;
    }

    /// <summary>The same text in a version 1 container: greedy codes with their corrections, or raw ids where those take fewer bits.</summary>
    private static byte[] VersionOne(ZTokenModel model, ZTokenCompressor compressor, byte[] version2, int[] ids)
    {
        var header = ZTokenContainer.ReadHeader(version2);
        var widths = ZTokenContainer.Widths.Of(header.Codes, header.MaxCodeLength, header.SegmentLength, header.BaseVocabulary);
        var codec = new ZTokenCodec(model);
        var segments = new StoredSegment[header.SegmentCount];
        for (int i = 0; i < segments.Length; i++)
        {
            var segment = ids.AsSpan(i * header.SegmentLength, header.SegmentLengthAt(i));
            var code = codec.Encode(segment);
            var corrections = codec.FindCorrections(code, segment);
            segments[i] = corrections.Count == 0 || widths.CodeBits(code.Length, corrections.Count) < widths.RawBits(segment.Length)
                ? new StoredSegment(code, corrections, null)
                : new StoredSegment([], Corrections.None, segment.ToArray());
        }
        return ZTokenContainer.WriteBitPacked(header, segments, model.Vocabulary.FirstCode);
    }

    private static byte[] Head(byte[] data, int limit)
    {
        if (data.Length <= limit)
            return data;
        int end = Array.LastIndexOf(data, (byte)'\n', limit - 1);
        return data[..(end > 0 ? end + 1 : limit)];
    }
}
