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
    public void ShardedCheckpointsLoadAsOneFileWouldAndTheirIndexIsChecked()
    {
        var folder = Directory.CreateTempSubdirectory("terse-hf-shards-");
        try
        {
            var model = LlamaModel.CreateRandom(new LlamaConfig(32, 48, 2, 4, 2, 40, 16), 3);
            ModelFiles.SaveHuggingFace(model, folder.FullName, TensorDType.BF16);
            string single = Path.Combine(folder.FullName, "model.safetensors");
            var tensors = Safetensors.ReadAll(single);
            var first = tensors.Where(t => t.Name.StartsWith("model.embed_tokens.", StringComparison.Ordinal) || t.Name.StartsWith("model.layers.0.", StringComparison.Ordinal)).ToList();
            var second = tensors.Except(first).ToList();
            const string Shard1 = "model-00001-of-00002.safetensors", Shard2 = "model-00002-of-00002.safetensors";
            Safetensors.Write(Path.Combine(folder.FullName, Shard1), first, Safetensors.PyTorchMetadata);
            Safetensors.Write(Path.Combine(folder.FullName, Shard2), second, Safetensors.PyTorchMetadata);
            var map = first.ToDictionary(t => t.Name, _ => Shard1).Concat(second.ToDictionary(t => t.Name, _ => Shard2)).ToDictionary();
            string index = Path.Combine(folder.FullName, SafetensorsShards.IndexFile);
            void WriteIndex(IDictionary<string, string> weightMap) =>
                File.WriteAllText(index, System.Text.Json.JsonSerializer.Serialize(new { metadata = new { total_size = 1 }, weight_map = weightMap }));
            WriteIndex(map);

            // transformers prefers model.safetensors when both exist; without it the index is read.
            var fromSingle = ModelFiles.Load(folder.FullName);
            File.Delete(single);
            foreach (var loaded in new[] { ModelFiles.Load(folder.FullName), ModelFiles.Load(index) })
                foreach (var parameter in fromSingle.Parameters)
                    Assert.True(parameter.Value.Span.SequenceEqual(loaded.Parameters[parameter.Name].Value.Span), parameter.Name);

            string someName = second[0].Name;
            void Refused(string expected, string file)
            {
                var error = Assert.Throws<InvalidDataException>(() => ModelFiles.Load(folder.FullName));
                Assert.StartsWith(Path.Combine(folder.FullName, file), error.Message);
                Assert.Contains(expected, error.Message);
            }
            WriteIndex(map.Where(e => e.Key != someName).ToDictionary());
            Refused($"tensor '{someName}' is not in model.safetensors.index.json's weight_map", Shard2);
            WriteIndex(map.Append(new("model.layers.9.mlp.up_proj.weight", Shard1)).ToDictionary());
            Refused($"weight_map puts tensor 'model.layers.9.mlp.up_proj.weight' in {Shard1}, which does not hold it", SafetensorsShards.IndexFile);
            WriteIndex(map.ToDictionary(e => e.Key, e => e.Key == someName ? Shard1 : e.Value));
            Refused($"weight_map puts tensor '{someName}' in {Shard1}, which does not hold it", SafetensorsShards.IndexFile);
            WriteIndex(map.ToDictionary(e => e.Key, e => e.Key == someName ? "model-00003-of-00003.safetensors" : e.Value));
            Refused("weight_map names model-00003-of-00003.safetensors, which is not in", SafetensorsShards.IndexFile);
            WriteIndex(map.ToDictionary(e => e.Key, e => e.Key == someName ? "../" + Shard2 : e.Value));
            Refused($"field 'weight_map.{someName}' must be the name of a .safetensors file in the same folder", SafetensorsShards.IndexFile);
            string entry = $"\"{someName}\": \"{Shard2}\"";
            File.WriteAllText(index, "{\"weight_map\": {" + entry + ", " + entry + "}}");
            Refused($"field 'weight_map.{someName}' appears twice", SafetensorsShards.IndexFile);
            File.WriteAllText(index, """{"metadata": {}}""");
            Refused("field 'weight_map' is required", SafetensorsShards.IndexFile);

            // A tensor in two shards: the index can map it to one only.
            Safetensors.Write(Path.Combine(folder.FullName, Shard2), second.Append(first[0]), Safetensors.PyTorchMetadata);
            WriteIndex(map);
            Refused($"tensor '{first[0].Name}' is mapped to {Shard1}", Shard2);
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
