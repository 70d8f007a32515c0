using Terse.Gmsa;
using Terse.Neural;
using Terse.Neural.Training;
using Terse.Tests.Neural;

namespace Terse.Tests.Gmsa;

/// <summary>Group merging, the whole encoder → merge → LSA → decoder chain and KEFT against finite differences.</summary>
public class GmsaPieceTests
{
    internal static LlamaModel TinyBase(int seed, int layers = 3) =>
        GradientCheckTests.WithLargeWeights(LlamaModel.CreateRandom(new LlamaConfig(16, 24, layers, 4, 2, 23, 40), seed), seed);

    /// <summary>
    /// The chain (encoder, merge, LSA, decoder) is deep enough that the float32 rounding of the
    /// forward pass (~1e-6 on the loss) swamps single-element differences, so these checks use the
    /// engine's step and only whole-tensor random ±1 directions, whose derivatives are far above it.
    /// </summary>
    private const float CheckStep = 1e-2f;

    /// <summary>The mean loss summed in double from the per-position losses (the float mean would add rounding noise).</summary>
    private static double PreciseLoss(GmsaPass pass, int[][] texts)
    {
        double sum = 0;
        for (int b = 0; b < texts.Length; b++)
            foreach (float loss in pass.TextLosses(b, texts[b].Length))
                sum += loss;
        return sum / texts.Sum(t => t.Length);
    }

    /// <summary>Found writing the gmsa-config fuzz harness: a segment length near int.MaxValue wrapped the room check and the group count.</summary>
    [Theory]
    [InlineData("memory", 2147483646, 1)]
    [InlineData("mean", 2147483647, 2147483647)]
    [InlineData("last", 2147483647, 1073741824)]
    public void AHugeSegmentLengthInGmsaJsonIsRefusedWithoutOverflow(string merge, int segmentLength, int rate)
    {
        Assert.Equal(1, GroupMerging.GroupCount(int.MaxValue, int.MaxValue));
        Assert.Equal(2, GroupMerging.GroupCount(int.MaxValue, 1 << 30));
        var json = $$"""
            {"format": "terse-gmsa/1", "encoder_layers": 1, "lsa_layers": 1, "merge": "{{merge}}", "rates": [{{rate}}],
             "segment_length": {{segmentLength}}, "lora_rank": 2, "lora_alpha": 4, "base_identity": "00ff"}
            """;
        var settings = GmsaModel.ParseConfig(json, "gmsa.json").Settings;
        Assert.Equal(segmentLength, settings.SegmentLength);
        Assert.Contains($"segment length {segmentLength} leaves no room in the model's 40 positions", settings.Problem(TinyBase(1).Config));
    }

    [Fact]
    public void GroupsAreMeansOfRConsecutiveRowsAndTheLastGroupTakesWhatRemains()
    {
        int dim = 2, length = 7, rate = 3;
        var rows = Enumerable.Range(0, length * dim).Select(i => (float)i).ToArray();
        Assert.Equal(3, GroupMerging.GroupCount(length, rate));
        Assert.Equal(2, GroupMerging.GroupCount(6, 3));
        Assert.Equal(0, GroupMerging.GroupCount(0, 3));
        var merged = new float[3 * dim];
        GroupMerging.Forward(rows, length, dim, rate, MergeMode.Mean, merged);
        // rows r hold (2r, 2r+1): groups {0,1,2}, {3,4,5}, {6}
        Assert.Equal([2f, 3f, 8f, 9f, 12f, 13f], merged);
        GroupMerging.Forward(rows, length, dim, rate, MergeMode.Last, merged);
        Assert.Equal([4f, 5f, 10f, 11f, 12f, 13f], merged);
        Assert.Throws<ArgumentException>(() => GroupMerging.Forward(rows, length, dim, rate, MergeMode.Mean, new float[2 * dim]));
        Assert.Throws<ArgumentException>(() => GroupMerging.Forward(rows, length, dim, rate, MergeMode.Memory, merged));
    }

    [Fact]
    public void MergingBackwardMatchesFiniteDifferencesForEveryLengthAndRate()
    {
        var random = new Random(3);
        int dim = 3;
        foreach (var mode in new[] { MergeMode.Mean, MergeMode.Last })
            for (int length = 1; length <= 9; length++)
                for (int rate = 1; rate <= 5; rate++)
                {
                    int groups = GroupMerging.GroupCount(length, rate);
                    var rows = GradientCheckTests.RandomArray(random, length * dim);
                    var upstream = GradientCheckTests.RandomArray(random, groups * dim);
                    double Loss()
                    {
                        var merged = new float[groups * dim];
                        GroupMerging.Forward(rows, length, dim, rate, mode, merged);
                        return GradientCheckTests.WeightedSum(merged, upstream);
                    }
                    var dRows = new float[length * dim];
                    GroupMerging.Backward(upstream, length, dim, rate, mode, dRows);
                    GradientCheckTests.Check($"{mode} n={length} r={rate}", Loss, rows, dRows, random, elements: 2);
                }
    }

    public static TheoryData<MergeMode, int> Variants => new()
    {
        { MergeMode.Mean, 1 },
        { MergeMode.Mean, 2 },
        { MergeMode.Last, 0 },
        { MergeMode.Memory, 1 },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void AutoencoderLossGradientReachesEncoderAdapterLsaMarkerAndMemory(MergeMode merge, int lsaLayers)
    {
        var decoder = TinyBase(seed: 5);
        var model = new GmsaModel(decoder, new GmsaSettings(EncoderLayers: 2, LsaLayers: lsaLayers, Merge: merge, Rates: [2, 3], SegmentLength: 7, LoraRank: 4, LoraAlpha: 4));
        var random = new Random(6);
        // B starts at zero (the adapter is a no-op); random values make every factor carry a gradient.
        foreach (var parameter in model.Encoder.Parameters)
            GradientCheckTests.RandomArray(random, parameter.Length, 0.3).CopyTo(parameter.Value.Span);
        var trainable = model.AutoencoderParameters.ToArray();
        var pass = new GmsaPass(model, batch: 2, maxSoftTokens: 4, new Gradients(trainable));
        int[][] segments = [[3, 7, 1, 9, 12, 4, 20], [5, 5, 8, 2, 11]]; // the second is ragged: 5 tokens at rate 3
        int[] rates = [2, 3];
        double Loss()
        {
            pass.Encode(segments, rates);
            pass.Decode(segments, marker: true, adapter: null);
            return PreciseLoss(pass, segments);
        }
        Loss();
        pass.Backward(intoEncoder: true);
        Assert.Equal(4, pass.SoftCount(0));
        Assert.Equal(2, pass.SoftCount(1));
        foreach (var parameter in trainable)
        {
            var values = parameter.Value.Span.ToArray();
            var gradient = pass.Gradients.Of(parameter).ToArray();
            if (merge != MergeMode.Memory || parameter != model.Memory)
                Assert.True(gradient.Any(g => g != 0), $"{parameter.Name} got no gradient");
            GradientCheckTests.Check(parameter.Name, () =>
            {
                values.CopyTo(parameter.Value.Span);
                return Loss();
            }, values, gradient, random, elements: 0, step: CheckStep);
            values.CopyTo(parameter.Value.Span);
        }
        foreach (var parameter in decoder.Parameters)
            Assert.True(pass.Gradients.Of(parameter).IsEmpty, "the decoder stays frozen");
    }

    [Fact]
    public void KeftGradientReachesOnlyTheDecoderAdapter()
    {
        var decoder = TinyBase(seed: 7);
        var model = new GmsaModel(decoder, new GmsaSettings(EncoderLayers: 1, Rates: [4], SegmentLength: 8, LoraRank: 2, LoraAlpha: 2));
        var keft = model.AddKeft(rank: 3, alpha: 3);
        var random = new Random(8);
        foreach (var parameter in keft.Parameters)
            GradientCheckTests.RandomArray(random, parameter.Length, 0.3).CopyTo(parameter.Value.Span);
        var pass = new GmsaPass(model, 1, 2, new Gradients(keft.Parameters));
        int[][] context = [[1, 2, 3, 4, 5, 6, 7, 8]], continuation = [[9, 10, 11, 12]];
        double Loss()
        {
            pass.Encode(context, [4]);
            pass.Decode(continuation, marker: false, keft);
            return PreciseLoss(pass, continuation);
        }
        Loss();
        pass.Backward(intoEncoder: false);
        foreach (var parameter in keft.Parameters)
        {
            var values = parameter.Value.Span.ToArray();
            GradientCheckTests.Check(parameter.Name, () => { values.CopyTo(parameter.Value.Span); return Loss(); }, values, pass.Gradients.Of(parameter).ToArray(), random, elements: 0, step: CheckStep);
            values.CopyTo(parameter.Value.Span);
        }
        Assert.All(model.Encoder.Parameters, p => Assert.True(pass.Gradients.Of(p).IsEmpty));
    }

    [Fact]
    public void FreshCompressorCopiesTheDecoderFirstLayerIntoLsaAndStartsWithAnIdleEncoderAdapter()
    {
        var decoder = TinyBase(seed: 9);
        var model = new GmsaModel(decoder, new GmsaSettings(EncoderLayers: 2, LsaLayers: 0, Rates: [3], SegmentLength: 6, LoraRank: 2, LoraAlpha: 2));
        var withLsa = new GmsaModel(TinyBase(seed: 9), new GmsaSettings(EncoderLayers: 2, LsaLayers: 2, Rates: [3], SegmentLength: 6, LoraRank: 2, LoraAlpha: 2));
        Assert.Equal(2 * 9, withLsa.LsaLayerParameters.Count());
        foreach (var parameter in withLsa.LsaLayerParameters)
            Assert.Equal(withLsa.Decoder.Parameters[parameter.Name].Value.Span.ToArray(), parameter.Value.Span.ToArray());

        // Without LSA and with B = 0, soft tokens are plain means of the base model's layer-2 states.
        int[] segment = [4, 8, 15, 16, 23 % 23, 2];
        var soft = GmsaInference.Compress(model, segment, rate: 3);
        Assert.Equal(2, soft.Count);
        var reference = new BatchPass(decoder, 1, 7, 0, 2, new Gradients([]), head: false);
        reference.Forward([1, .. segment]);
        var hidden = reference.HiddenState(2);
        for (int j = 0; j < 16; j++)
        {
            float mean = (hidden[16 + j] + hidden[32 + j] + hidden[48 + j]) / 3;
            Assert.Equal(mean, soft.Values[j], 1e-5f);
        }
    }
}
