using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Terse.EntropyCoding;

namespace Terse.Tests.EntropyCoding;

public class InputChunkerTests
{
    [Fact]
    public void Chunks_tile_the_input_and_keep_between_half_and_all_of_the_size()
    {
        var gen =
            from seed in Gen.Choose(0, int.MaxValue)
            from length in Gen.Choose(0, 3000)
            from size in Gen.Choose(1, 400)
            select (seed, length, size);
        Prop.ForAll(Arb.From(gen), c =>
        {
            var random = new Random(c.seed);
            var input = new byte[c.length];
            for (int i = 0; i < input.Length; i++)
                input[i] = random.Next(4) == 0 ? (byte)random.Next(256) : (byte)"ab \n\u00e9"[random.Next(5)];
            var chunks = InputChunker.Cut(input, c.size);
            int at = 0;
            for (int i = 0; i < chunks.Count; i++)
            {
                var (offset, length) = chunks[i].GetOffsetAndLength(input.Length);
                Assert.Equal(at, offset);
                Assert.InRange(length, i == chunks.Count - 1 ? 1 : Math.Max(1, c.size / 2), c.size);
                at += length;
            }
            Assert.Equal(input.Length, at);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Cuts_after_a_line_break_else_after_a_space_else_between_characters()
    {
        var lines = Encoding.UTF8.GetBytes("one line\nanother line\nend!");
        Assert.Equal([0..9, 9..22, 22..26], InputChunker.Cut(lines, 16));
        // Without a line break in the second half of the allowed size, a space.
        Assert.Equal([0..4, 4..9, 9..17, 17..22, 22..26], InputChunker.Cut(lines, 8));

        var words = Encoding.UTF8.GetBytes("some words without any line break at all");
        var cut = InputChunker.Cut(words, 16);
        Assert.All(cut.SkipLast(1), r => Assert.Equal((byte)' ', words[r.End.Value - 1]));

        var accents = Encoding.UTF8.GetBytes("ééééééééééééééé"); // two bytes each
        Assert.All(InputChunker.Cut(accents, 7), r => Assert.True(r.Start.Value % 2 == 0, "no chunk starts inside a character"));
    }
}
