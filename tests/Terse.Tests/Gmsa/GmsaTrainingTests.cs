using Terse.Gmsa;
using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Neural.Training;
using Terse.Tests.Infrastructure;
using Terse.Tokenization;

namespace Terse.Tests.Gmsa;

/// <summary>Training on the real stories260K, saving and loading a compressor, and the soft-token file.</summary>
public class GmsaTrainingTests
{
    private static readonly Lazy<int[]> StoryTokens = new(() =>
        TokenizerRegistry.Load("stories260K").Encode(TestData.ReadText("text/tinystories_valid_head.txt")[..40_000]));

    /// <summary>A fresh copy of stories260K (tests attach adapters to it, so it is not shared).</summary>
    private static LlamaModel FreshStories() => Llama2cCheckpoint.Load(TestData.Path("models/stories260K.bin"));

    private static double FixedBatchLoss(GmsaModel model, int[][] segments, int rate)
    {
        var pass = new GmsaPass(model, segments.Length, model.Settings.SoftTokens(rate), new Gradients([]));
        pass.Encode(segments, Enumerable.Repeat(rate, segments.Length).ToArray());
        return pass.Decode(segments, marker: true, adapter: null);
    }

    [Fact]
    public void AutoencoderTrainingLowersReconstructionLossOnSegmentsItDidNotSee()
    {
        var tokens = StoryTokens.Value;
        int half = tokens.Length / 2;
        var model = new GmsaModel(FreshStories(), new GmsaSettings(EncoderLayers: 2, Rates: [4], SegmentLength: 16, LoraRank: 8, LoraAlpha: 16));
        // Trained on the first half, measured on segments of the second.
        var unseen = GmsaEvaluation.Windows(tokens[half..], 16, 8).ToArray();
        double before = FixedBatchLoss(model, unseen, 4);
        var trainer = new GmsaTrainer(model, GmsaStage.Autoencoder, new GmsaTrainingSettings { Steps = 60, BatchSize = 8, WarmupSteps = 5, LearningRate = 3e-3f }, tokens[..half]);
        var steps = Enumerable.Range(0, 60).Select(_ => trainer.TrainStep()).ToArray();
        double after = FixedBatchLoss(model, unseen, 4);
        Assert.True(after < before - 0.3, $"held-out reconstruction loss {before:F3} → {after:F3}");
        Assert.All(steps, s => Assert.True(float.IsFinite(s.Loss)));
    }

    [Fact]
    public void TrainingIsReproducibleFromItsSeed()
    {
        float[][] Train(int seed)
        {
            var model = new GmsaModel(GmsaPieceTests.TinyBase(seed: 13), new GmsaSettings(EncoderLayers: 2, Rates: [2, 3], SegmentLength: 6, LoraRank: 2, LoraAlpha: 2));
            var corpus = Enumerable.Range(0, 200).Select(i => i * 7 % 23).ToArray();
            var trainer = new GmsaTrainer(model, GmsaStage.Autoencoder, new GmsaTrainingSettings { Steps = 5, BatchSize = 3, Seed = seed }, corpus);
            for (int i = 0; i < 5; i++)
                trainer.TrainStep();
            return model.AutoencoderParameters.Select(p => p.Value.Span.ToArray()).ToArray();
        }
        var first = Train(1);
        Assert.Equal(first, Train(1));
        Assert.NotEqual(first, Train(2));
    }

    [Fact]
    public void KeftTrainingLowersContinuationLossAndLeavesTheEncoderAlone()
    {
        var tokens = StoryTokens.Value;
        var model = new GmsaModel(FreshStories(), new GmsaSettings(EncoderLayers: 2, Rates: [4], SegmentLength: 16, LoraRank: 4, LoraAlpha: 8));
        var encoderBefore = model.Encoder.Parameters.Select(p => p.Value.Span.ToArray()).ToArray();
        var keft = model.AddKeft(4, 8);
        var trainer = new GmsaTrainer(model, GmsaStage.Keft, new GmsaTrainingSettings { Steps = 40, BatchSize = 8, ContinuationLength = 8, WarmupSteps = 4, LearningRate = 3e-3f }, tokens);
        var steps = Enumerable.Range(0, 40).Select(_ => trainer.TrainStep()).ToArray();
        Assert.True(steps[^5..].Average(s => s.Loss) < steps[..5].Average(s => s.Loss), $"{steps[0].Loss} → {steps[^1].Loss}");
        Assert.Contains(keft.Parameters, p => p.Name.EndsWith("lora_B.weight") && p.Value.Span.IndexOfAnyExcept(0f) >= 0);
        for (int i = 0; i < encoderBefore.Length; i++)
            Assert.Equal(encoderBefore[i], model.Encoder.Parameters[i].Value.Span.ToArray());
    }

    [Theory]
    [InlineData(MergeMode.Mean, 1, false)]
    [InlineData(MergeMode.Memory, 0, false)]
    [InlineData(MergeMode.Last, 2, true)]
    public void SavedCompressorLoadsExactlyOntoTheSameBaseAndRefusesAnother(MergeMode merge, int lsaLayers, bool jointDecoder)
    {
        var folder = Directory.CreateTempSubdirectory("terse-gmsa-");
        try
        {
            var model = new GmsaModel(FreshStories(), new GmsaSettings(EncoderLayers: 2, LsaLayers: lsaLayers, Merge: merge, Rates: [2, 4], SegmentLength: 8, LoraRank: 4, LoraAlpha: 8))
            {
                BaseModelSource = "stories260K",
                TokenizerSource = "stories260K",
            };
            new GmsaTrainer(model, GmsaStage.Autoencoder, new GmsaTrainingSettings { Steps = 3, BatchSize = 2 }, StoryTokens.Value).TrainStep();
            var keft = model.AddKeft(2, 4);
            model.DecoderAdapterInAutoencoder = jointDecoder;
            Assert.Equal(jointDecoder, model.AutoencoderParameters.Intersect(keft.Parameters).Any());
            var random = new Random(1);
            foreach (var p in keft.Parameters)
                foreach (ref float v in p.Value.Span)
                    v = (float)random.NextDouble() - 0.5f;
            model.Save(folder.FullName);

            var loaded = GmsaModel.Load(FreshStories(), folder.FullName);
            Assert.Equal(("stories260K", "stories260K"), GmsaModel.ReadSources(folder.FullName));
            Assert.Equal(model.Settings.TrainingRates, loaded.Settings.TrainingRates);
            Assert.Equal(model.Settings with { Rates = null }, loaded.Settings with { Rates = null });
            Assert.Equal(jointDecoder, loaded.DecoderAdapterInAutoencoder);
            var pairs = model.AutoencoderParameters.Concat(keft.Parameters).Zip(loaded.AutoencoderParameters.Concat(loaded.Keft!.Parameters));
            foreach (var (original, restored) in pairs)
            {
                Assert.Equal(original.Name, restored.Name);
                Assert.Equal(original.Value.Span.ToArray(), restored.Value.Span.ToArray());
            }
            var text = StoryTokens.Value[..21];
            Assert.Equal(GmsaInference.Compress(model, text, 4).Values, GmsaInference.Compress(loaded, text, 4).Values);

            var other = LlamaModel.CreateRandom(FreshStories().Config, seed: 3);
            var error = Assert.Throws<InvalidDataException>(() => GmsaModel.Load(other, folder.FullName));
            Assert.Contains("another base model", error.Message);
            Assert.Empty(other.Adapters);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void CompressCutsLongTextsIntoSegmentsWithARaggedLastOne()
    {
        var model = new GmsaModel(GmsaPieceTests.TinyBase(seed: 2), new GmsaSettings(EncoderLayers: 1, Rates: [3], SegmentLength: 8, LoraRank: 2, LoraAlpha: 2));
        var tokens = Enumerable.Range(0, 19).Select(i => i % 23).ToArray();
        var context = GmsaInference.Compress(model, tokens, 3);
        // 8 + 8 + 3 tokens → 3 + 3 + 1 soft tokens
        Assert.Equal(7, context.Count);
        Assert.Equal(7 * 16, context.Values.Length);
        Assert.Equal(19, context.SourceTokens);
        // The first segment's soft tokens do not depend on what follows it (to float rounding: a
        // batch of three goes through the matrix products in other blocks than a batch of one).
        var alone = GmsaInference.Compress(model, tokens[..8], 3);
        for (int i = 0; i < 3 * 16; i++)
            Assert.Equal(alone.Values[i], context.Values[i], 1e-4f);
        Assert.Throws<ArgumentOutOfRangeException>(() => GmsaInference.Compress(model, tokens, 9));
        Assert.Throws<ArgumentException>(() => GmsaInference.Compress(model, [], 3));
    }

    [Fact]
    public void GreedyReconstructionIsTheTeacherForcedArgmaxOfItsOwnOutput()
    {
        // The evaluation's two paths (KV-cache decoding and the batched pass) must read the same
        // prefix [BOS] soft [AE]: fed back teacher-forced, the greedy output is its own argmax.
        var model = new GmsaModel(GmsaPieceTests.TinyBase(seed: 12), new GmsaSettings(EncoderLayers: 2, Rates: [4], SegmentLength: 12, LoraRank: 2, LoraAlpha: 2));
        int[] segment = [3, 9, 4, 17, 2, 8, 8, 1, 5, 22, 13, 7];
        var pass = new GmsaPass(model, 1, 3, new Gradients([]));
        pass.Encode([segment], [4]);
        var greedy = GmsaInference.Reconstruct(model, pass.Soft(0), segment.Length);
        pass.Decode([greedy], marker: true, adapter: null);
        Assert.Equal(segment.Length, pass.TeacherForcedMatches(0, greedy));
    }

    [Fact]
    public void SoftTokenFileRoundTripsExactly()
    {
        var random = new Random(4);
        var values = Enumerable.Range(0, 5 * 16).Select(_ => (float)random.NextDouble()).ToArray();
        var context = new SoftContext(values, 5, 16, 4, 19, 8);
        var identity = new byte[32];
        random.NextBytes(identity);
        var (read, baseIdentity) = SoftTokenFile.Read(SoftTokenFile.Serialize(context, identity), "test");
        Assert.Equal(values, read.Values);
        Assert.Equal(context with { Values = [] }, read with { Values = [] });
        Assert.Equal(Convert.ToHexStringLower(identity), baseIdentity);
    }

    [Fact]
    public void MalformedSoftTokenFilesAreRejectedWithInvalidDataException()
    {
        var random = new Random(5);
        var valid = SoftTokenFile.Serialize(new SoftContext(new float[3 * 4], 3, 4, 2, 6, 8), new byte[32]);
        for (int trial = 0; trial < 3000; trial++)
        {
            byte[] file;
            if (trial % 3 == 0)
            {
                file = new byte[random.Next(0, 200)];
                random.NextBytes(file);
            }
            else
            {
                file = (byte[])valid.Clone();
                int flips = random.Next(1, 4);
                for (int f = 0; f < flips; f++)
                    file[random.Next(file.Length)] = (byte)random.Next(256);
                if (trial % 7 == 0)
                    file = file[..random.Next(file.Length)];
            }
            try
            {
                var (context, _) = SoftTokenFile.Read(file, "fuzz");
                Assert.Equal(context.Count * context.Dim, context.Values.Length);
                Assert.All(context.Values, v => Assert.True(float.IsFinite(v)));
            }
            catch (InvalidDataException)
            {
            }
        }
    }

    [Fact]
    public void MalformedCompressorFoldersAreRejectedWithInvalidDataException()
    {
        var folder = Directory.CreateTempSubdirectory("terse-gmsa-fuzz-");
        try
        {
            var model = new GmsaModel(FreshStories(), new GmsaSettings(EncoderLayers: 1, Merge: MergeMode.Memory, Rates: [4], SegmentLength: 8, LoraRank: 2, LoraAlpha: 4));
            model.Save(folder.FullName);
            model.Detach();
            string config = Path.Combine(folder.FullName, "gmsa.json");
            var original = File.ReadAllBytes(config);
            var random = new Random(6);
            var decoder = model.Decoder;
            for (int trial = 0; trial < 300; trial++)
            {
                var mutated = (byte[])original.Clone();
                for (int f = random.Next(1, 3); f > 0; f--)
                    mutated[random.Next(mutated.Length)] = (byte)"0123456789\",:{}[]ax -"[random.Next(21)];
                File.WriteAllBytes(config, mutated);
                try
                {
                    GmsaModel.Load(decoder, folder.FullName).Detach();
                }
                catch (InvalidDataException)
                {
                }
                Assert.Empty(decoder.Adapters);
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
