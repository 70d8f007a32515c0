using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Tests.Infrastructure;

namespace Terse.Tests.Neural;

public class ModelFilesTests
{
    private static readonly int[] Tokens = [1, 403, 407, 261, 378, 10, 290, 77];

    [Fact]
    public void HuggingFaceSaveThenLoadIsExactAndComputesTheSameLogits()
    {
        var original = ModelFixtures.Stories260K;
        var folder = Directory.CreateTempSubdirectory("terse-hf-");
        try
        {
            ModelFiles.SaveHuggingFace(original, folder.FullName);
            using (var reader = Safetensors.Open(Path.Combine(folder.FullName, "model.safetensors")))
            {
                HuggingFaceLlamaNames.Check(reader.Tensors, HuggingFaceLlamaConfig.Read(Path.Combine(folder.FullName, "config.json")));
                // On disk q_proj rows are in rotate-half order, i.e. permuted relative to llama2.c.
                var query = original.Parameters["model.layers.0.self_attn.q_proj.weight"];
                Assert.Equal(RotaryLayout.InterleavedToHalves(query.Value.Span, 8, 8, 64), reader.ReadFloat32(query.Name));
            }
            var loaded = ModelFiles.Load(folder.FullName);
            Assert.Equal(original.Config, loaded.Config);
            foreach (var parameter in original.Parameters)
                Assert.Equal(parameter.Value.Span.ToArray(), loaded.Parameters[parameter.Name].Value.Span.ToArray());
            Assert.Equal(original.ComputeIdentity(), loaded.ComputeIdentity());
            Assert.Equal(original.CreateSession().Prefill(Tokens).ToArray(), loaded.CreateSession().Prefill(Tokens).ToArray());
            Assert.Equal(original.ComputeIdentity(), ModelFiles.Load(Path.Combine(folder.FullName, "model.safetensors")).ComputeIdentity());
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void Qwen2StyleBiasesRoundTripThroughTheHuggingFaceLayout()
    {
        var model = LlamaModel.CreateRandom(new LlamaConfig(32, 48, 2, 4, 2, 40, 16, RopeTheta: 1_000_000f, NormEpsilon: 1e-6f, TiedEmbeddings: false, AttentionBias: true), 3);
        var random = new Random(4);
        foreach (var bias in model.Parameters.Where(p => p.Name.EndsWith(".bias")))
            foreach (ref float value in bias.Value.Span)
                value = (float)random.NextDouble() - 0.5f;
        var folder = Directory.CreateTempSubdirectory("terse-qwen-");
        try
        {
            ModelFiles.SaveHuggingFace(model, folder.FullName);
            Assert.Contains("Qwen2ForCausalLM", File.ReadAllText(Path.Combine(folder.FullName, "config.json")));
            var loaded = ModelFiles.Load(folder.FullName);
            Assert.Equal(model.Config, loaded.Config);
            Assert.Equal(model.ComputeIdentity(), loaded.ComputeIdentity());
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void AdaptersSaveAloneInPeftLayoutAndLoadBackExactly()
    {
        var model = Llama2cCheckpoint.Load(TestData.Path("models/stories260K.bin"));
        var adapter = model.AddAdapter("z", new LoraSettings(4, 8, 0.1f, [LlamaProjection.Query, LlamaProjection.Key, LlamaProjection.Down], Layers: [1, 3]), seed: 2);
        var random = new Random(5);
        foreach (var parameter in adapter.Parameters)
            foreach (ref float value in parameter.Value.Span)
                value = 0.05f * (float)(random.NextDouble() - 0.5);
        var folder = Directory.CreateTempSubdirectory("terse-adapter-");
        try
        {
            AdapterFiles.Save(adapter, folder.FullName);
            using (var reader = Safetensors.Open(Path.Combine(folder.FullName, "adapter_model.safetensors")))
            {
                Assert.Equal(2 * 3 * 2, reader.Tensors.Count);
                Assert.True(reader.TryGetInfo("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", out _));
                Assert.False(reader.TryGetInfo("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", out _));
            }
            var config = LoraAdapterConfig.Read(Path.Combine(folder.FullName, "adapter_config.json"));
            Assert.Equal(4, config.Rank);
            Assert.Equal(["down_proj", "k_proj", "q_proj"], config.TargetModules.Order());

            var loaded = AdapterFiles.Load(model, folder.FullName, "z2");
            foreach (var parameter in adapter.Parameters)
                Assert.Equal(parameter.Value.Span.ToArray(), loaded.Parameters[parameter.Name].Value.Span.ToArray());
            Assert.Equal(model.CreateSession(adapter: adapter).Prefill(Tokens).ToArray(), model.CreateSession(adapter: loaded).Prefill(Tokens).ToArray());

            var other = LlamaModel.CreateRandom(new LlamaConfig(32, 48, 2, 4, 2, 40, 16), 1);
            Assert.Throws<InvalidDataException>(() => AdapterFiles.Load(other, folder.FullName, "bad"));
            Assert.Empty(other.Adapters);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void MissingOrInconsistentHuggingFaceFilesAreClearErrors()
    {
        var folder = Directory.CreateTempSubdirectory("terse-hf-bad-");
        try
        {
            Assert.Throws<FileNotFoundException>(() => ModelFiles.Load(folder.FullName));
            ModelFiles.SaveHuggingFace(LlamaModel.CreateRandom(new LlamaConfig(32, 48, 2, 4, 2, 40, 16), 1), folder.FullName);
            var configPath = Path.Combine(folder.FullName, "config.json");
            File.WriteAllText(configPath, File.ReadAllText(configPath).Replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3"));
            Assert.Throws<InvalidDataException>(() => ModelFiles.Load(folder.FullName));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
