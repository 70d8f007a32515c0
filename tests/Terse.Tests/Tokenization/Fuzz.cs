using System.Diagnostics;
using System.Text;

namespace Terse.Tests.Tokenization;

/// <summary>
/// Random and mutated inputs for the parsers of external tokenizer formats: each must either accept
/// an input or reject it with the expected exception type, quickly, without any other failure.
/// </summary>
public static class Fuzz
{
    /// <summary>Runs <paramref name="parse"/> on <paramref name="cases"/> inputs; returns how many were rejected.</summary>
    public static int Run(IEnumerable<byte[]> cases, Action<byte[]> parse, params Type[] expectedExceptions)
    {
        int rejected = 0, total = 0;
        foreach (var input in cases)
        {
            total++;
            var watch = Stopwatch.StartNew();
            try
            {
                parse(input);
            }
            catch (Exception e) when (expectedExceptions.Any(t => t.IsInstanceOfType(e)))
            {
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"case {total} ({input.Length} bytes, starts '{Preview(input)}'): {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"case {total} took {watch.Elapsed}");
        }
        return rejected;
    }

    private static string Preview(byte[] input) =>
        Encoding.UTF8.GetString(input, 0, Math.Min(60, input.Length)).Replace("\n", "\\n");

    /// <summary>Mutations of <paramref name="valid"/>: byte flips, insertions, deletions, truncations, spliced junk.</summary>
    public static IEnumerable<byte[]> Mutations(byte[] valid, int count, int seed, params string[] junk)
    {
        var random = new Random(seed);
        var junkBytes = junk.Select(Encoding.UTF8.GetBytes).ToArray();
        for (int i = 0; i < count; i++)
        {
            var bytes = new List<byte>(valid);
            int edits = 1 + random.Next(4);
            for (int e = 0; e < edits && bytes.Count > 0; e++)
            {
                int at = random.Next(bytes.Count);
                switch (random.Next(6))
                {
                    case 0: bytes[at] = (byte)random.Next(256); break;
                    case 1: bytes.Insert(at, (byte)random.Next(256)); break;
                    case 2: bytes.RemoveRange(at, Math.Min(bytes.Count - at, 1 + random.Next(16))); break;
                    case 3: bytes.RemoveRange(at, bytes.Count - at); break;
                    case 4 when junkBytes.Length > 0: bytes.InsertRange(at, junkBytes[random.Next(junkBytes.Length)]); break;
                    default:
                        int from = random.Next(bytes.Count), length = Math.Min(bytes.Count - from, 1 + random.Next(64));
                        bytes.InsertRange(at, bytes.GetRange(from, length));
                        break;
                }
            }
            yield return bytes.ToArray();
        }
    }

    public static IEnumerable<byte[]> RandomBytes(int count, int seed, int maxLength = 512)
    {
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            var bytes = new byte[random.Next(maxLength)];
            random.NextBytes(bytes);
            yield return bytes;
        }
    }
}
