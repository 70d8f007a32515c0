using Terse.Tests.Infrastructure;
using Terse.Evaluation;
using Terse.Models;
using Terse.Tokenization;

namespace Terse.Tests.Evaluation;

public class ContextMethodsTests
{
    private static readonly Tokenizer Tokenizer = TokenizerRegistry.Load("stories260K");

    private static int[] Context(int tokens) =>
        Tokenizer.Encode(TestData.ReadText("text/tinystories_valid_head.txt")[..4000] + " Tom paid 1234 coins for (x) = 5.")[^tokens..];

    [Theory]
    [InlineData(100, 2.0, 50)]
    [InlineData(100, 3.0, 34)]
    [InlineData(100, 8.0, 13)]
    [InlineData(7, 1.0, 7)]
    public void Truncation_keeps_the_ceiling_of_length_over_rate(int length, double rate, int kept)
    {
        var context = Enumerable.Range(0, length).ToArray();
        var model = ModelResolver.Load("stories260K");
        Assert.Equal(context[..kept], new Truncation(model, keepLast: false).Select(context, rate));
        Assert.Equal(context[^kept..], new Truncation(model, keepLast: true).Select(context, rate));
        var compressed = new Truncation(model, keepLast: true).Compress(context, rate);
        Assert.Equal(kept, compressed.CodeLength);
        Assert.Equal(context[^kept..], compressed.Input.Tokens);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Truncation(model, false).Select(context, 0.5));
    }

    [Theory]
    [InlineData(false, 2.0)]
    [InlineData(true, 4.0)]
    [InlineData(false, 8.0)]
    public void Pruning_hits_the_rate_exactly_and_keeps_a_subsequence_in_order(bool protect, double rate)
    {
        var context = Context(150);
        var kept = new SurprisalPruning(ModelResolver.Load("stories260K"), Tokenizer, protect, segmentTokens: 32).Select(context, rate);
        Assert.Equal(Truncation.KeptCount(context.Length, rate), kept.Length);
        int at = 0;
        foreach (int id in kept)
        {
            while (at < context.Length && context[at] != id)
                at++;
            Assert.True(at < context.Length, "the kept ids are not a subsequence of the context");
            at++;
        }
    }

    [Fact]
    public void Protection_keeps_numbers_and_names_that_plain_pruning_may_drop()
    {
        var model = ModelResolver.Load("stories260K");
        var context = Context(120);
        string Kept(bool protect) => Tokenizer.Decode(new SurprisalPruning(model, Tokenizer, protect).Select(context, 2.0));
        string withProtection = Kept(true);
        Assert.Contains("1234", withProtection);
        Assert.Contains("Tom", withProtection);
        Assert.NotEqual(withProtection, Kept(false));
    }

    [Fact]
    public void Pruning_drops_the_predictable_tokens_rather_than_the_surprising_ones()
    {
        // Pruned contexts must cost the base model more bits per kept token than the context did:
        // what is dropped is what the model already expected.
        var model = ModelResolver.Load("stories260K");
        var reader = new ContextReader(Tokenizer);
        var context = Context(160);
        var kept = new SurprisalPruning(model, Tokenizer, protectSpans: false).Select(context, 4.0);
        var truncated = new Truncation(model, keepLast: true).Select(context, 4.0);
        Assert.True(reader.ContextBits(model, kept) / kept.Length > reader.ContextBits(model, truncated) / truncated.Length);
    }

    [Fact]
    public void Meta_tokens_are_lossless_shorter_on_repetitive_text_and_read_as_embeddings()
    {
        var model = ModelResolver.Load("stories260K");
        var sentence = Tokenizer.Encode(" The big red dog ran to the park and the little cat ran after it.");
        int[] context = [.. Context(40), .. sentence, .. Context(30), .. sentence, .. sentence];
        var compressed = new MetaTokenReading(model, Tokenizer).Compress(context, 1);
        Assert.True(compressed.CodeLength < context.Length, $"{compressed.CodeLength} ≥ {context.Length}");
        Assert.Equal(context, compressed.Reconstruct!());
        Assert.Null(compressed.Input.Tokens);
        Assert.Equal(compressed.CodeLength * model.Config.Dim, compressed.Input.Embeddings!.Length);
        // Without a repeat there is no dictionary, and the rows are the tokens' own embeddings: the reader
        // scores a continuation exactly as it does after the tokens.
        var plain = Context(24);
        var uncompressed = new MetaTokenReading(model, Tokenizer).Compress(plain, 1);
        Assert.Equal(plain.Length, uncompressed.CodeLength);
        var reader = new ContextReader(Tokenizer);
        Assert.Equal(reader.ContinuationBits(ReaderInput.OfTokens(model, plain), [], sentence), reader.ContinuationBits(uncompressed.Input, [], sentence), 4);
    }

    [Fact]
    public void A_context_that_does_not_fit_the_reader_is_refused()
    {
        var model = ModelResolver.Load("stories260K");
        var reader = new ContextReader(Tokenizer);
        var tooLong = Enumerable.Repeat(300, model.Config.MaxSequenceLength).ToArray();
        Assert.Throws<ArgumentException>(() => reader.ContinuationBits(ReaderInput.OfTokens(model, tooLong), [], [5]));
    }
}
