using Terse.Neural;
using Terse.Neural.Numerics;
using Terse.Neural.Training;

namespace Terse.Tests.Neural;

public class BatchPassTests
{
    private static readonly int[][] Sequences =
    [
        [1, 403, 407, 261, 378, 10, 290, 77, 300, 4, 55, 211],
        [1, 9, 300, 301, 302, 44, 45, 46, 500, 2, 270, 333],
    ];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BatchedForwardAgreesWithKvCacheDecodingOfEachSequence(bool openBlas)
    {
        var model = ModelFixtures.Stories260K;
        var pass = new BatchPass(model, Sequences.Length, Sequences[0].Length) ;
        var saved = model.Gemm;
        try
        {
            model.Gemm = openBlas ? Gemm.OpenBlas! : Gemm.Managed;
            pass.Forward(Sequences.SelectMany(s => s).ToArray());
        }
        finally
        {
            model.Gemm = saved;
        }
        int vocab = model.Config.VocabSize, time = Sequences[0].Length;
        for (int b = 0; b < Sequences.Length; b++)
        {
            var session = model.CreateSession();
            for (int t = 0; t < time; t++)
            {
                var stepped = session.Step(Sequences[b][t]);
                var batched = pass.Logits.Slice((b * time + t) * vocab, vocab);
                for (int i = 0; i < vocab; i++)
                    Assert.True(Math.Abs(stepped[i] - batched[i]) < 1e-4f, $"sequence {b}, position {t}, logit {i}: {stepped[i]} vs {batched[i]}");
            }
        }
    }

    [Fact]
    public void SplittingTheStackAtAnyLayerGivesTheSameLogits()
    {
        var model = ModelFixtures.Stories260K;
        var tokens = Sequences[0];
        var whole = new BatchPass(model, 1, tokens.Length);
        whole.Forward(tokens);
        var expected = whole.Logits.ToArray();
        for (int split = 1; split < model.Config.Layers; split++)
        {
            var bottom = new BatchPass(model, 1, tokens.Length, 0, split);
            var top = new BatchPass(model, 1, tokens.Length, split);
            bottom.Forward(tokens);
            Assert.Equal(whole.HiddenState(split).ToArray(), bottom.HiddenState(split).ToArray());
            top.Forward(bottom.HiddenState(split));
            Assert.Equal(expected, top.Logits.ToArray());
        }
    }

    [Fact]
    public void IgnoredTargetsDoNotCountAndAllIgnoredGivesZero()
    {
        var model = ModelFixtures.Stories260K;
        var tokens = Sequences[0];
        var pass = new BatchPass(model, 1, tokens.Length);
        pass.Forward(tokens);
        var targets = tokens.Skip(1).Append(-1).ToArray();
        float full = pass.Loss(targets);
        var losses = pass.RowLosses.ToArray();
        Assert.Equal(0f, losses[^1]);
        Assert.Equal(losses.Take(tokens.Length - 1).Average(), full, 5);
        var half = targets.Select((t, i) => i % 2 == 0 ? t : -1).ToArray();
        float halfLoss = pass.Loss(half);
        Assert.Equal(losses.Where((_, i) => i % 2 == 0 && i < tokens.Length - 1).Average(), halfLoss, 5);
        Assert.Equal(0f, pass.Loss(Enumerable.Repeat(-1, tokens.Length).ToArray()));
    }

    [Fact]
    public void NewVocabularyRowsAreUsableAndLeaveOldLogitsUnchanged()
    {
        var model = Terse.Neural.Checkpoints.Llama2cCheckpoint.Load(Terse.Tests.Infrastructure.TestData.Path("models/stories260K.bin"));
        var before = model.CreateSession().Prefill([1, 400, 12]).ToArray();
        int first = model.AddVocabularyRows(3, seed: 5);
        Assert.Equal(512, first);
        Assert.Equal(515, model.Config.VocabSize);
        Assert.Equal(512, model.Parameters[ParameterNames.Embedding].FrozenRows);
        var session = model.CreateSession();
        var after = session.Prefill([1, 400, 12]).ToArray();
        Assert.Equal(515, after.Length);
        Assert.Equal(before, after[..512]);
        var withNewToken = session.Step(514).ToArray();
        Assert.All(withNewToken, value => Assert.True(float.IsFinite(value)));
        var pass = new BatchPass(model, 1, 4);
        pass.Forward([1, 512, 513, 514]);
        Assert.True(pass.Loss([512, 513, 514, 3]) > 0);
    }

    [Fact]
    public void MisuseIsReportedClearly()
    {
        var model = ModelFixtures.Stories260K;
        var pass = new BatchPass(model, 1, 4);
        Assert.Throws<InvalidOperationException>(() => pass.Backward());
        Assert.Throws<ArgumentException>(() => pass.Forward([1, 2, 3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => pass.Forward([1, 2, 3, 512]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchPass(model, 1, 513));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchPass(model, 1, 4, 3, 3));
        Assert.Throws<InvalidOperationException>(() => new BatchPass(model, 1, 4, 1).Forward([1, 2, 3, 4]));
    }
}
