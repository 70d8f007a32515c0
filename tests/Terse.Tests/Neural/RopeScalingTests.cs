using Terse.Neural;
using Terse.Neural.Layers;
using Terse.Neural.Numerics;

namespace Terse.Tests.Neural;

public class RopeScalingTests
{
    private static float[] Unscaled(int headSize, float theta) => new Rope(headSize, 4, theta).Frequencies(4).Inverse;

    [Fact]
    public void Llama3KeepsShortWavelengthsDividesLongOnesAndBlendsBetween()
    {
        // Llama-3.2-1B: head size 64, θ = 500000, factor 32, bands at 8192/4 and 8192/1 positions.
        var scaling = new RopeScaling { Type = RopeScalingType.Llama3, Factor = 32, OriginalMaxPositions = 8192, LowFrequencyFactor = 1, HighFrequencyFactor = 4 };
        var scaled = new Rope(64, 16, 500000f, scaling).Frequencies(16).Inverse;
        var plain = Unscaled(64, 500000f);
        int kept = 0, divided = 0, blended = 0;
        for (int i = 0; i < plain.Length; i++)
        {
            double wavelength = 2 * Math.PI / plain[i];
            if (wavelength < 8192 / 4.0)
            {
                Assert.Equal(plain[i], scaled[i]);
                kept++;
            }
            else if (wavelength > 8192)
            {
                Assert.Equal(plain[i] / 32, scaled[i], plain[i] * 1e-7);
                divided++;
            }
            else
            {
                double smooth = (8192 / wavelength - 1) / 3;
                Assert.Equal((1 - smooth) * plain[i] / 32 + smooth * plain[i], scaled[i], plain[i] * 1e-7);
                Assert.InRange(scaled[i], plain[i] / 32, plain[i]);
                blended++;
            }
            if (i > 0)
                Assert.True(scaled[i] < scaled[i - 1], "frequencies fall with the dimension");
        }
        Assert.True(kept > 0 && divided > 0 && blended > 0, $"bands {kept}/{blended}/{divided}");
    }

    [Fact]
    public void LinearDividesEveryFrequency()
    {
        var scaled = new Rope(16, 8, 10000f, new RopeScaling { Type = RopeScalingType.Linear, Factor = 4 }).Frequencies(8).Inverse;
        var plain = Unscaled(16, 10000f);
        for (int i = 0; i < plain.Length; i++)
            Assert.Equal(plain[i] / 4, scaled[i], plain[i] * 1e-7);
    }

    [Fact]
    public void DynamicFrequenciesFollowTheEndOfTheCallOnlyPastTheOriginalLength()
    {
        var scaling = new RopeScaling { Type = RopeScalingType.Dynamic, Factor = 4, OriginalMaxPositions = 32 };
        var rope = new Rope(16, 128, 10000f, scaling);
        var plainRope = new Rope(16, 128, 10000f);
        var random = new Random(5);
        var vector = Enumerable.Range(0, 32).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        float[] Rotated(RopeAngles angles, int position)
        {
            var copy = (float[])vector.Clone();
            angles.Forward(copy, position);
            return copy;
        }
        // Within the original length: the unscaled rotation, whatever the call's start.
        Assert.Equal(Rotated(plainRope.For(0, 32), 20), Rotated(rope.For(10, 32), 20));
        Assert.Same(rope.For(0, 32), rope.For(5, 20));
        // Past it: base θ·(factor·L/original − factor + 1)^(d/(d−2)), so position 20 rotates differently as L grows.
        var at64 = Rotated(rope.For(60, 64), 20 + 40);
        Assert.NotEqual(Rotated(plainRope.For(0, 64), 60), at64);
        Assert.NotEqual(Rotated(rope.For(60, 96), 60), at64);
        var frequencies = rope.Frequencies(96).Inverse;
        double grownTheta = 10000 * Math.Pow(4 * 96 / 32.0 - 3, 16 / 14.0);
        for (int i = 0; i < frequencies.Length; i++)
            Assert.Equal(Math.Pow(grownTheta, -2.0 * i / 16), frequencies[i], Math.Pow(grownTheta, -2.0 * i / 16) * 1e-6);
    }

    [Fact]
    public void YarnScalesTheRotationByItsAttentionFactorAndBackwardIsItsTranspose()
    {
        var scaling = new RopeScaling { Type = RopeScalingType.Yarn, Factor = 4, OriginalMaxPositions = 32, AttentionFactor = RopeScaling.YarnAttentionFactor(4) };
        var rope = new Rope(16, 128, 10000f, scaling);
        var (inverse, scale) = rope.Frequencies(128);
        var plain = Unscaled(16, 10000f);
        // Fast dimensions extrapolate (kept), slow ones interpolate (divided by the factor).
        Assert.Equal(plain[0], inverse[0]);
        Assert.Equal(plain[^1] / 4, inverse[^1], plain[^1] * 1e-6);
        Assert.Equal((float)(0.1 * Math.Log(4) + 1), scale);
        var random = new Random(9);
        var x = Enumerable.Range(0, 32).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var y = Enumerable.Range(0, 32).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var angles = rope.For(0, 100);
        var rx = (float[])x.Clone();
        angles.Forward(rx, 77);
        Assert.Equal(scale * Norm(x), Norm(rx), 1e-5);
        var ty = (float[])y.Clone();
        angles.Backward(ty, 77);
        Assert.Equal(Dot(rx, y), Dot(x, ty), 1e-5);
    }

    [Fact]
    public void PortableScaledTablesAreTheNativeOnesToAUnitInTheLastPlace()
    {
        foreach (var scaling in new[]
        {
            new RopeScaling { Type = RopeScalingType.Dynamic, Factor = 2, OriginalMaxPositions = 64 },
            new RopeScaling { Type = RopeScalingType.Yarn, Factor = 8, OriginalMaxPositions = 64, AttentionFactor = 1.2 },
        })
        {
            var native = new Rope(32, 128, 10000f, scaling).Frequencies(100);
            var portable = new Rope(32, 128, 10000f, scaling, portable: true).Frequencies(100);
            Assert.Equal(native.Scale, portable.Scale);
            for (int i = 0; i < native.Inverse.Length; i++)
                Assert.Equal(native.Inverse[i], portable.Inverse[i], native.Inverse[i] * 1e-6);
        }
    }

    [Fact]
    public void ScalingIsPartOfTheModelIdentityAndUnscaledIdentitiesStay()
    {
        var config = new LlamaConfig(16, 32, 1, 2, 1, 20, 64);
        var plain = LlamaModel.CreateRandom(config, 1);
        var scaled = LlamaModel.CreateRandom(config with { RopeScaling = new RopeScaling { Type = RopeScalingType.Linear, Factor = 2 } }, 1);
        Assert.NotEqual(plain.ComputeIdentity(), scaled.ComputeIdentity());
        Assert.Equal(plain.ComputeIdentity(), LlamaModel.CreateRandom(config with { RopeScaling = null }, 1).ComputeIdentity());
        Assert.Contains("rope scaling factor 0", new LlamaConfig(16, 32, 1, 2, 1, 20, 64, RopeScaling: new RopeScaling { Type = RopeScalingType.Linear, Factor = 0 }).Problem());
        Assert.Contains("head size above 2", new LlamaConfig(4, 32, 1, 2, 1, 20, 64, RopeScaling: new RopeScaling { Type = RopeScalingType.Dynamic, Factor = 2, OriginalMaxPositions = 8 }).Problem());
    }

    [Fact]
    public void ScaledModelsRoundTripThroughHuggingFaceFolders()
    {
        var folder = Directory.CreateTempSubdirectory("terse-rope-");
        try
        {
            foreach (var (scaling, positions) in new[]
            {
                (new RopeScaling { Type = RopeScalingType.Dynamic, Factor = 2, OriginalMaxPositions = 32 }, 64),
                (new RopeScaling { Type = RopeScalingType.Llama3, Factor = 8, OriginalMaxPositions = 16, LowFrequencyFactor = 1, HighFrequencyFactor = 4 }, 64),
            })
            {
                var model = LlamaModel.CreateRandom(new LlamaConfig(16, 32, 1, 2, 1, 20, positions, RopeScaling: scaling), 2);
                ModelFiles.SaveHuggingFace(model, folder.FullName);
                var back = ModelFiles.Load(folder.FullName);
                Assert.Equal(model.Config, back.Config);
                Assert.Equal(model.ComputeIdentity(), back.ComputeIdentity());
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static double Norm(float[] v) => Math.Sqrt(v.Sum(x => (double)x * x));

    private static double Dot(float[] a, float[] b) => a.Select((x, i) => (double)x * b[i]).Sum();
}
