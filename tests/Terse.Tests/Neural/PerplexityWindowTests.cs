using Terse.Neural;
using Terse.Neural.Training;

namespace Terse.Tests.Neural;

/// <summary>
/// The window of <see cref="Perplexity.CrossEntropy"/> is sized by the text, not by the model's
/// context (issue 14: a 65,536-position config overflowed an int, a 4,096-position one took GBs for
/// a thousand tokens), and a window whose attention cannot fit is refused with a sentence.
/// </summary>
public class PerplexityWindowTests
{
    private static int[] Text(int length, int vocabulary) => Enumerable.Range(0, length).Select(i => 1 + i * 7 % (vocabulary - 1)).ToArray();

    [Fact]
    public void ALongContextModelScoresAShortTextInMemoryOfTheText()
    {
        var model = LlamaModel.CreateRandom(new LlamaConfig(16, 32, 2, 4, 4, 64, 65_536), seed: 3);
        var text = Text(200, 64);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var whole = Perplexity.CrossEntropy(model, text, bos: 0);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 64 << 20, $"{allocated:N0} bytes allocated to score 200 tokens");
        Assert.True(double.IsFinite(whole.NatsPerToken));
        // The same numbers as a window that just holds the text.
        Assert.Equal(whole.Nats, Perplexity.CrossEntropy(model, text, bos: 0, window: 201).Nats, 6);
    }

    [Fact]
    public void AWindowWhoseAttentionCannotFitIsRefusedBeforeAllocating()
    {
        var model = LlamaModel.CreateRandom(new LlamaConfig(128, 32, 16, 64, 64, 64, 65_536), seed: 3);
        var text = Text(65_535, 64);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<ArgumentException>(() => Perplexity.CrossEntropy(model, text, bos: 0));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
        Assert.StartsWith("a window of 65,536 tokens needs", e.Message);
        Assert.Contains("choose a smaller window", e.Message);
        Assert.Contains("the window must be in 2..65536", Assert.Throws<ArgumentOutOfRangeException>(() => Perplexity.CrossEntropy(model, text, 0, window: 1)).Message);
    }
}
