using Terse.Neural;

namespace Terse.Tests.Neural;

public class SamplerTests
{
    [Fact]
    public void TemperatureZeroIsArgmaxTakingTheFirstOfTies()
    {
        var sampler = new Sampler(0);
        Assert.Equal(2, sampler.Sample([0f, 1f, 3f, 3f, -5f]));
        Assert.Equal(0, sampler.Sample([7f, 7f]));
    }

    [Fact]
    public void SameSeedSameChoicesDifferentSeedDifferentChoices()
    {
        var logits = Enumerable.Range(0, 50).Select(i => MathF.Sin(i)).ToArray();
        int[] Draw(ulong seed)
        {
            var sampler = new Sampler(1f, 0.95f, seed);
            return Enumerable.Range(0, 200).Select(_ => sampler.Sample(logits)).ToArray();
        }
        Assert.Equal(Draw(42), Draw(42));
        Assert.NotEqual(Draw(42), Draw(43));
    }

    [Fact]
    public void SamplesFollowTheSoftmaxDistribution()
    {
        float[] probabilities = [0.5f, 0.3f, 0.15f, 0.05f];
        var logits = probabilities.Select(p => MathF.Log(p)).ToArray();
        var sampler = new Sampler(1f, topP: 1f, seed: 9);
        var counts = new int[4];
        const int n = 40_000;
        for (int i = 0; i < n; i++)
            counts[sampler.Sample(logits)]++;
        for (int i = 0; i < 4; i++)
            Assert.InRange(counts[i] / (double)n, probabilities[i] - 0.015, probabilities[i] + 0.015);
    }

    [Fact]
    public void TopPKeepsOnlyTheSmallestSetAboveP()
    {
        // Cumulative 0.5, 0.8: the nucleus for p = 0.7 is {0, 1}, sampled in proportion 5:3.
        var logits = new[] { 0.05f, 0.5f, 0.15f, 0.3f }.Select(p => MathF.Log(p)).ToArray();
        var sampler = new Sampler(1f, topP: 0.7f, seed: 11);
        var counts = new int[4];
        for (int i = 0; i < 16_000; i++)
            counts[sampler.Sample(logits)]++;
        Assert.Equal(0, counts[0]);
        Assert.Equal(0, counts[2]);
        Assert.InRange(counts[1] / (double)(counts[1] + counts[3]), 0.625 - 0.02, 0.625 + 0.02);
    }

    [Fact]
    public void LowTemperatureSharpensTowardsTheArgmax()
    {
        float[] logits = [1f, 2f, 1.5f];
        var sampler = new Sampler(0.05f, topP: 1f, seed: 3);
        Assert.All(Enumerable.Range(0, 500), _ => Assert.Equal(1, sampler.Sample(logits)));
    }

    [Fact]
    public void InvalidSettingsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(-1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(float.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(1f, 0.9f, seed: 0));
    }
}
