using System.Buffers.Binary;
using Terse.IO;
using Terse.MetaTokens;

namespace Terse.Tests.MetaTokens;

/// <summary>
/// Fuzzes the two meta-token decoders with random inputs and mutations of valid ones. Every input
/// must either decode to a sequence that expands within the limit, or be rejected with an
/// <see cref="InvalidDataException"/> that says something; anything else is a failure. Container
/// mutations get a recomputed checksum half of the time, so the parser behind the CRC is reached.
/// Shared by the test suite (10^5 cases each) and the long run in the benchmark project.
/// </summary>
public static class MetaTokenFuzzer
{
    public sealed record Outcome(long Cases, long Accepted, long Rejected);

    public sealed class FuzzFailure(string message, Exception? inner = null) : Exception(message, inner);

    private const int Vocabulary = 40;
    private const long Limit = 1 << 20;

    public static Outcome FuzzContainer(long cases, int seed, IProgress<long>? progress = null)
    {
        var random = new Random(seed);
        var valid = ValidSequences(seed).Select(s => MetaTokenContainer.Write(s, new TokenizerIdentity("fuzz", [7, 7, 7]))).ToArray();
        long accepted = 0, rejected = 0;
        for (long i = 0; i < cases; i++)
        {
            var input = random.Next(10) == 0 ? RandomContainerLike(random) : MutateBytes(valid[random.Next(valid.Length)], random);
            if (random.Next(2) == 0)
                FixChecksum(input);
            try
            {
                var file = MetaTokenContainer.Read(input, Limit);
                var ids = file.Sequence.Expand();
                if (ids.Length != file.Sequence.OriginalLength || ids.Length > Limit)
                    throw new FuzzFailure($"container case {i} (seed {seed}) expanded to {ids.Length} ids, header says {file.Sequence.OriginalLength}");
                accepted++;
            }
            catch (InvalidDataException e) when (!string.IsNullOrWhiteSpace(e.Message))
            {
                rejected++;
            }
            catch (Exception e) when (e is not FuzzFailure)
            {
                throw new FuzzFailure($"container case {i} (seed {seed}, {input.Length} bytes: {Convert.ToHexString(input.AsSpan(0, Math.Min(64, input.Length)))}) threw {e.GetType().Name}: {e.Message}", e);
            }
            if ((i & 0xFFFF) == 0)
                progress?.Report(i);
        }
        return new Outcome(cases, accepted, rejected);
    }

    public static Outcome FuzzInContext(long cases, int seed, IProgress<long>? progress = null)
    {
        var random = new Random(seed);
        var formats = new[]
        {
            InContextFormat.ForVocabulary(Vocabulary),
            new InContextFormat(Vocabulary, Vocabulary - 2, Vocabulary - 1, Vocabulary + 5), // special tokens as delimiters, a gap below the meta-tokens
        };
        var valid = ValidSequences(seed)
            .SelectMany(s => formats.Select((f, k) => (Format: k, Ids: TryEncode(f, s))))
            .Where(v => v.Ids is not null)
            .ToArray();
        long accepted = 0, rejected = 0;
        for (long i = 0; i < cases; i++)
        {
            var (k, ids) = valid[random.Next(valid.Length)];
            var format = formats[k];
            var input = random.Next(10) == 0 ? RandomIds(random, format) : MutateIds(ids!, random, format);
            try
            {
                var sequence = format.Decode(input, Limit);
                var expanded = sequence.Expand();
                if (expanded.Length != sequence.OriginalLength || expanded.Length > Limit)
                    throw new FuzzFailure($"in-context case {i} (seed {seed}) expanded to {expanded.Length} ids, expected {sequence.OriginalLength}");
                accepted++;
            }
            catch (InvalidDataException e) when (!string.IsNullOrWhiteSpace(e.Message))
            {
                rejected++;
            }
            catch (Exception e) when (e is not FuzzFailure)
            {
                throw new FuzzFailure($"in-context case {i} (seed {seed}, ids {string.Join(' ', input.Take(80))}) threw {e.GetType().Name}: {e.Message}", e);
            }
            if ((i & 0xFFFF) == 0)
                progress?.Report(i);
        }
        return new Outcome(cases, accepted, rejected);
    }

    private static int[]? TryEncode(InContextFormat format, MetaTokenSequence sequence)
    {
        try
        {
            return format.Encode(sequence);
        }
        catch (ArgumentException)
        {
            return null; // the text uses a token this format takes as a delimiter
        }
    }

    /// <summary>Compressed forms of repetitive sequences, flat and hierarchical, to mutate.</summary>
    private static List<MetaTokenSequence> ValidSequences(int seed)
    {
        var random = new Random(seed ^ 0x5eed);
        var result = new List<MetaTokenSequence>();
        for (int i = 0; i < 24; i++)
        {
            var block = Enumerable.Range(0, random.Next(2, 9)).Select(_ => random.Next(Vocabulary - 2)).ToArray();
            var ids = new List<int>();
            for (int r = random.Next(2, 12); r > 0; r--)
            {
                ids.AddRange(block);
                if (random.Next(2) == 0)
                    ids.Add(random.Next(Vocabulary - 2));
            }
            result.Add(MetaTokenCompressor.Compress(ids.ToArray(), Vocabulary, new MetaTokenOptions { Hierarchical = i % 2 == 1 }));
        }
        result.Add(MetaTokenCompressor.Compress([], Vocabulary));
        result.Add(MetaTokenCompressor.Compress([1, 2, 3], Vocabulary));
        return result;
    }

    private static byte[] RandomContainerLike(Random random)
    {
        var bytes = new byte[random.Next(0, 80)];
        random.NextBytes(bytes);
        if (bytes.Length >= 6 && random.Next(2) == 0)
        {
            MetaTokenContainer.Magic.CopyTo(bytes);
            bytes[4] = MetaTokenContainer.Version;
            bytes[5] = 0;
        }
        return bytes;
    }

    private static void FixChecksum(byte[] bytes)
    {
        if (bytes.Length >= 10)
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4), Crc32C.Compute(bytes.AsSpan(0, bytes.Length - 4)));
    }

    private static byte[] MutateBytes(byte[] valid, Random random)
    {
        var bytes = new List<byte>(valid);
        for (int m = 1 + random.Next(3); m > 0 && bytes.Count > 0; m--)
        {
            int at = random.Next(bytes.Count);
            switch (random.Next(6))
            {
                case 0: bytes[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: bytes[at] = (byte)random.Next(256); break;
                case 2:
                    // A varint of extreme value: huge counts, lengths and ids.
                    byte[] big = random.Next(2) == 0 ? [0xFF, 0xFF, 0xFF, 0xFF, 0x07] : [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
                    bytes.InsertRange(at, big);
                    bytes.RemoveAt(Math.Min(at + big.Length, bytes.Count - 1));
                    break;
                case 3: bytes.RemoveRange(at, bytes.Count - at); break;
                case 4: bytes.RemoveRange(at, Math.Min(bytes.Count - at, 1 + random.Next(8))); break;
                default:
                    var inserted = new byte[1 + random.Next(8)];
                    random.NextBytes(inserted);
                    bytes.InsertRange(at, inserted);
                    break;
            }
        }
        return bytes.ToArray();
    }

    private static int InterestingId(Random random, InContextFormat format) => random.Next(8) switch
    {
        0 => format.DictionaryStartId,
        1 => format.DictionaryEndId,
        2 => format.FirstMetaTokenId + random.Next(6),
        3 => random.Next(2) == 0 ? -1 : int.MaxValue,
        4 => format.BaseVocabularySize + random.Next(format.FirstMetaTokenId - format.BaseVocabularySize + 1),
        _ => random.Next(format.BaseVocabularySize),
    };

    private static int[] RandomIds(Random random, InContextFormat format)
    {
        var ids = new int[random.Next(0, 40)];
        for (int i = 0; i < ids.Length; i++)
            ids[i] = InterestingId(random, format);
        if (ids.Length > 0 && random.Next(2) == 0)
            ids[0] = format.DictionaryStartId;
        return ids;
    }

    private static int[] MutateIds(int[] valid, Random random, InContextFormat format)
    {
        var ids = new List<int>(valid);
        for (int m = 1 + random.Next(3); m > 0 && ids.Count > 0; m--)
        {
            int at = random.Next(ids.Count);
            switch (random.Next(6))
            {
                case 0:
                case 1: ids[at] = InterestingId(random, format); break;
                case 2: ids.RemoveRange(at, ids.Count - at); break;
                case 3: ids.RemoveRange(at, Math.Min(ids.Count - at, 1 + random.Next(6))); break;
                case 4: ids.Insert(at, InterestingId(random, format)); break;
                default:
                    int length = Math.Min(ids.Count - at, 1 + random.Next(10));
                    ids.InsertRange(random.Next(ids.Count), ids.GetRange(at, length));
                    break;
            }
        }
        return ids.ToArray();
    }
}
