namespace Terse.Tests.Tokenization;

/// <summary>
/// Feeds a parser random bytes and mutations of a valid file (bit flips, overwritten integers,
/// truncation, inserted and deleted runs). Every input must either load or be rejected with
/// <see cref="InvalidDataException"/> (or <see cref="NotSupportedException"/> for a well-formed file
/// using a feature the reader does not implement); any other exception fails the test.
/// </summary>
public static class FormatFuzzer
{
    public sealed record Outcome(int Loaded, int Rejected, int NotSupported);

    /// <param name="dictionary">
    /// Fragments that mutations also splice in (for text formats: JSON punctuation, huge or negative
    /// numbers, separators), so that mutants get past the first syntax check more often.
    /// </param>
    public static Outcome Run(byte[] valid, Action<byte[]> load, int cases, int seed, bool allowNotSupported = false, params string[] dictionary)
    {
        var random = new Random(seed);
        var fragments = dictionary.Select(System.Text.Encoding.UTF8.GetBytes).ToArray();
        int loaded = 0, rejected = 0, notSupported = 0;
        for (int i = 0; i < cases; i++)
        {
            byte[] input = i % 10 == 0 ? RandomBytes(random) : Mutate(valid, random, fragments);
            try
            {
                load(input);
                loaded++;
            }
            catch (InvalidDataException e)
            {
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
                rejected++;
            }
            catch (NotSupportedException) when (allowNotSupported)
            {
                notSupported++;
            }
            catch (Exception e)
            {
                Assert.Fail($"case {i} (seed {seed}, {input.Length} bytes) threw {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
        }
        return new Outcome(loaded, rejected, notSupported);
    }

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(0, 64)];
        random.NextBytes(bytes);
        return bytes;
    }

    public static byte[] Mutate(byte[] valid, Random random, byte[][]? dictionary = null)
    {
        var bytes = new List<byte>(valid);
        int mutations = 1 + random.Next(4);
        for (int m = 0; m < mutations && bytes.Count > 0; m++)
        {
            int at = Pick(bytes.Count, random);
            switch (random.Next(dictionary is { Length: > 0 } ? 8 : 7))
            {
                case 7:
                    bytes.InsertRange(at, dictionary![random.Next(dictionary.Length)]);
                    break;
                case 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 2:
                    // An extreme 32/64-bit integer: huge lengths and counts, negative values.
                    var extreme = random.Next(4) switch
                    {
                        0 => BitConverter.GetBytes(int.MaxValue),
                        1 => BitConverter.GetBytes(-1),
                        2 => BitConverter.GetBytes(ulong.MaxValue / (ulong)(1 + random.Next(1000))),
                        _ => new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 },
                    };
                    for (int k = 0; k < extreme.Length && at + k < bytes.Count; k++)
                        bytes[at + k] = extreme[k];
                    break;
                case 3:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                case 4:
                    bytes.RemoveRange(at, Math.Min(bytes.Count - at, 1 + random.Next(16)));
                    break;
                case 5:
                    var inserted = new byte[1 + random.Next(16)];
                    random.NextBytes(inserted);
                    bytes.InsertRange(at, inserted);
                    break;
                default:
                    int length = Math.Min(bytes.Count - at, 1 + random.Next(32));
                    bytes.InsertRange(Pick(bytes.Count, random), bytes.GetRange(at, length));
                    break;
            }
        }
        return bytes.ToArray();
    }

    /// <summary>Positions near the start (headers, first records) are picked more often than the rest.</summary>
    private static int Pick(int count, Random random) =>
        random.Next(3) == 0 ? random.Next(count) : random.Next(Math.Min(count, 256));
}
