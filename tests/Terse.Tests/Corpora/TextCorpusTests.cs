using Terse.Corpora;
using Terse.Tests.Infrastructure;

namespace Terse.Tests.Corpora;

/// <summary>The fixed splits of ../shared/data/text: what trains never overlaps what is held out.</summary>
public class TextCorpusTests
{
    private static readonly string TextFolder = Path.Combine(TestData.SharedDataRoot, "text");

    /// <summary>Shingles of this many characters (a sentence or so) must not be shared across splits.</summary>
    private const int Shingle = 64;

    [Fact]
    public void Every_source_reads_into_documents_and_every_split_of_the_trained_sources_is_non_empty()
    {
        foreach (var source in TextCorpus.Sources)
        {
            var all = Enum.GetValues<Split>().SelectMany(split => TextCorpus.Documents(TextFolder, source, split)).ToList();
            Assert.True(all.Count >= 4, $"{source.FileName}: {all.Count} documents");
            Assert.Equal(Enumerable.Range(0, all.Count), all.Select(d => d.Index).Order());
            Assert.NotEmpty(TextCorpus.Documents(TextFolder, source, Split.HeldOut));
            if (source.TrainEnd > 0)
            {
                Assert.NotEmpty(TextCorpus.Documents(TextFolder, source, Split.Train));
                Assert.NotEmpty(TextCorpus.Documents(TextFolder, source, Split.Development));
            }
        }
    }

    [Fact]
    public void Splits_are_contiguous_cuts_train_then_development_then_held_out()
    {
        foreach (var source in TextCorpus.Sources)
        {
            int count = Enum.GetValues<Split>().Sum(split => TextCorpus.Documents(TextFolder, source, split).Count);
            var splits = Enumerable.Range(0, count).Select(i => source.SplitOf(i, count)).ToArray();
            Assert.Equal(splits.Order(), splits);
            Assert.Throws<ArgumentOutOfRangeException>(() => source.SplitOf(count, count));
        }
    }

    [Fact]
    public void The_tinystories_held_out_split_begins_at_a_story_and_holds_the_last_fifth()
    {
        var source = TextCorpus.Source("tinystories_valid_head.txt");
        var heldOut = TextCorpus.Documents(TextFolder, source, Split.HeldOut);
        string all = TestData.ReadText("text/tinystories_valid_head.txt");
        Assert.StartsWith("Once upon a time", heldOut[0].Text);
        double share = heldOut.Sum(d => (double)d.Text.Length) / all.Length;
        Assert.InRange(share, 0.15, 0.25);
        Assert.EndsWith(string.Concat(heldOut.Select(d => d.Text)), all);
    }

    [Fact]
    public void No_training_document_shares_a_passage_with_a_held_out_or_development_document()
    {
        // Index every 64-character shingle of the training text starting at a multiple of 16; a
        // shared passage of 80 characters or more always contains one of them.
        var train = TextCorpus.Documents(TextFolder, Split.Train);
        var index = new HashSet<ulong>();
        foreach (var document in train)
            for (int i = 0; i + Shingle <= document.Text.Length; i += 16)
                index.Add(Hash(document.Text.AsSpan(i, Shingle)));

        foreach (var split in new[] { Split.Development, Split.HeldOut })
        {
            foreach (var source in TextCorpus.Sources)
            {
                long shared = 0, total = 0;
                foreach (var document in TextCorpus.Documents(TextFolder, source, split))
                {
                    for (int i = 0; i + Shingle <= document.Text.Length; i++, total++)
                        if (index.Contains(Hash(document.Text.AsSpan(i, Shingle))))
                            shared++;
                }
                // Stock phrases recur across documents ("Once upon a time, there was a little girl
                // named", docstring boilerplate): measured at most 0.06% of a split's shingles. Logs
                // repeat their message templates line after line (up to 3.7%).
                double bound = source.Domain == TextDomain.Logs ? 0.05 : 0.001;
                Assert.True(shared <= bound * total, $"{source.FileName} ({split}): {shared} of {total} shingles also occur in the training text");
            }
        }
    }

    [Fact]
    public void Hotpotqa_training_questions_drop_every_paragraph_a_held_out_question_has()
    {
        var questions = HotpotQuestion.Parse(TestData.ReadBytes("text/" + TextCorpus.HotpotQaFile));
        Assert.Equal(500, questions.Count);
        var source = TextCorpus.Source(TextCorpus.HotpotQaFile);
        var reserved = questions.Where((q, i) => source.SplitOf(i, questions.Count) != Split.Train).SelectMany(q => q.Paragraphs).Select(p => p.Text).ToHashSet();
        var train = TextCorpus.Documents(TextFolder, source, Split.Train);
        Assert.NotEmpty(train);
        foreach (var document in train)
            Assert.DoesNotContain(reserved, paragraph => document.Text.Contains(paragraph, StringComparison.Ordinal));
    }

    private static ulong Hash(ReadOnlySpan<char> text)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char c in text)
            hash = (hash ^ c) * 1099511628211UL;
        return hash;
    }
}
