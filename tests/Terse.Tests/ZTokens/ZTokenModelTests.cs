using Terse.Neural;
using Terse.Tokenization.Llama2c;
using Terse.ZTokens;

namespace Terse.Tests.ZTokens;

public class ZTokenModelTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("terse-ztokens-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static int[] Corpus(int seed, int length = 600)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, length).Select(_ => 2 + random.Next(10))];
    }

    private static ZTokenTrainingSettings Settings(int teacher = 2) => new()
    {
        BatchSize = 2, TotalSteps = 6, WarmupSteps = 1, TeacherSteps = teacher, Seed = 5, ContinuationWeight = 0.5f,
    };

    private static ZTokenModel Trainable(int seed)
    {
        var model = ZTokenTestModels.Tiny(seed, codes: 8, segment: 6, maxCode: 4);
        model.InitializeCodesFrom(ZTokenModel.MostFrequentTokens(Corpus(1), model.Vocabulary.BaseSize, model.Vocabulary.CodeCount));
        return model;
    }

    [Fact]
    public void TheVocabularyGrowsByTheCodesAndThreeDelimitersAndTheBaseStaysFrozen()
    {
        var model = Trainable(3);
        var v = model.Vocabulary;
        Assert.Equal(16 + 8 + 3, model.Model.Config.VocabSize);
        Assert.Equal((16, 24, 25, 26), (v.FirstCode, v.End, v.Begin, v.Continue));
        var before = model.Model.Parameters.Select(p => p.Value.Span.ToArray()).ToArray();
        var trainer = new ZTokenTrainer(model, Settings());
        for (int i = 0; i < 4; i++)
            trainer.TrainStep(Corpus(2));
        int index = 0;
        foreach (var parameter in model.Model.Parameters)
        {
            var now = parameter.Value.Span;
            int frozen = parameter.Frozen ? parameter.Length : parameter.FrozenRows * parameter.Shape[1];
            Assert.True(now[..frozen].SequenceEqual(before[index][..frozen]), $"{parameter.Name} changed in its frozen part");
            if (!parameter.Frozen)
                Assert.False(now[frozen..].SequenceEqual(before[index][frozen..]), $"{parameter.Name}: the new rows did not train");
            index++;
        }
        Assert.Contains(model.Compressor.Parameters, p => p.Value.Span.IndexOfAnyExcept(0f) >= 0 && p.Name.Contains("lora_B"));
        Assert.Contains(model.Decompressor.Parameters, p => p.Value.Span.IndexOfAnyExcept(0f) >= 0 && p.Name.Contains("lora_B"));
    }

    [Fact]
    public void TheSameSeedGivesTheSameModelAndACheckpointResumesExactly()
    {
        ZTokenModel Run(Action<ZTokenTrainer, ZTokenModel> steps)
        {
            var model = Trainable(7);
            steps(new ZTokenTrainer(model, Settings()), model);
            return model;
        }
        var corpus = Corpus(8);
        var straight = Run((t, _) => { for (int i = 0; i < 5; i++) t.TrainStep(corpus); });
        var again = Run((t, _) => { for (int i = 0; i < 5; i++) t.TrainStep(corpus); });
        Assert.Equal(straight.Identity, again.Identity);

        string checkpoint = Path.Combine(folder, "checkpoint.safetensors");
        Run((t, _) => { for (int i = 0; i < 3; i++) t.TrainStep(corpus); t.SaveCheckpoint(checkpoint); });
        var resumed = Run((t, _) =>
        {
            t.LoadCheckpoint(checkpoint);
            Assert.Equal(3, t.Step);
            for (int i = 0; i < 2; i++) t.TrainStep(corpus);
        });
        Assert.Equal(straight.Identity, resumed.Identity);
    }

    [Fact]
    public void SavingAndLoadingKeepsTheModelAndItsCodes()
    {
        var model = ZTokenCodecTests.Stories(60);
        var tokenizer = Llama2cTokenizer.Stories260K;
        var trainer = new ZTokenTrainer(model, new ZTokenTrainingSettings { BatchSize = 2, TotalSteps = 3, Seed = 3, ContinuationWeight = 0 });
        var corpus = tokenizer.Encode("Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog.");
        trainer.TrainStep(corpus);
        string path = Path.Combine(folder, "model");
        model.Save(path, tokenizer);
        var loaded = ZTokenModel.Load(path, _ => Terse.Neural.Checkpoints.Llama2cCheckpoint.Load(Infrastructure.TestData.Path("models/stories260K.bin")));
        Assert.Equal(model.Identity, loaded.Identity);
        var segment = corpus.AsSpan(0, 8);
        Assert.Equal(new ZTokenCodec(model).Encode(segment), new ZTokenCodec(loaded).Encode(segment));
        Assert.Equal(tokenizer.Name, ZTokenModel.ReadManifest(path).Tokenizer);

        // Another base, or a changed file, is refused.
        var otherBase = Assert.Throws<InvalidDataException>(() => ZTokenModel.Load(path, _ => LlamaModel.CreateRandom(model.Model.Config with { VocabSize = 512 }, 1)));
        Assert.Contains("identity", otherBase.Message);
        var rows = Path.Combine(path, "z_rows.safetensors");
        var bytes = File.ReadAllBytes(rows);
        bytes[^1] ^= 0x40;
        File.WriteAllBytes(rows, bytes);
        Assert.Contains("identity", Assert.Throws<InvalidDataException>(() =>
            ZTokenModel.Load(path, _ => Terse.Neural.Checkpoints.Llama2cCheckpoint.Load(Infrastructure.TestData.Path("models/stories260K.bin")))).Message);
    }

    [Fact]
    public void FreshAdaptersDecodeLikeTheBase()
    {
        // LoRA's B starts at zero: before training the decompressor is the base model.
        var model = ZTokenCodecTests.Stories(61, perturb: false);
        int[] text = [1, 403, 407, 261, 378, 10, 290, 77];
        var plain = model.Model.CreateSession().Prefill(text).ToArray();
        var adapted = model.Model.CreateSession(adapter: model.Decompressor).Prefill(text).ToArray();
        Assert.Equal(plain, adapted);
    }
}
