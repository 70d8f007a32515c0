using Terse.Neural.Checkpoints;

namespace Terse.Tests.Neural.Checkpoints;

public class ParameterNamesTests
{
    private static HuggingFaceLlamaConfig Tiny(string architecture = HuggingFaceLlamaConfig.LlamaArchitecture, bool tied = false) => new()
    {
        Architecture = architecture,
        HiddenSize = 8,
        IntermediateSize = 12,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        VocabSize = 10,
        TieWordEmbeddings = tied,
    };

    [Fact]
    public void NamesFollowHuggingFaceLlama()
    {
        Assert.Equal("model.layers.3.self_attn.q_proj.weight", HuggingFaceLlamaNames.Weight(3, LlamaProjection.Query));
        Assert.Equal("model.layers.0.self_attn.o_proj.weight", HuggingFaceLlamaNames.Weight(0, LlamaProjection.Output));
        Assert.Equal("model.layers.11.self_attn.k_proj.bias", HuggingFaceLlamaNames.Bias(11, LlamaProjection.Key));
        Assert.Equal("model.layers.1.mlp.gate_proj.weight", HuggingFaceLlamaNames.Weight(1, LlamaProjection.Gate));
        Assert.Equal("model.layers.1.mlp.up_proj.weight", HuggingFaceLlamaNames.Weight(1, LlamaProjection.Up));
        Assert.Equal("model.layers.1.mlp.down_proj.weight", HuggingFaceLlamaNames.Weight(1, LlamaProjection.Down));
        Assert.Equal("model.layers.2.input_layernorm.weight", HuggingFaceLlamaNames.InputNorm(2));
        Assert.Equal("model.layers.2.post_attention_layernorm.weight", HuggingFaceLlamaNames.PostAttentionNorm(2));
        Assert.Equal(("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"), (HuggingFaceLlamaNames.Embedding, HuggingFaceLlamaNames.FinalNorm, HuggingFaceLlamaNames.LmHead));
    }

    [Fact]
    public void ExpectedTensorsFollowTheConfiguration()
    {
        var llama = HuggingFaceLlamaNames.ExpectedTensors(Tiny()).ToDictionary(t => t.Name, t => t.Shape);
        Assert.Equal(1 + 2 * 9 + 1 + 1, llama.Count);
        Assert.Equal([10L, 8], llama["model.embed_tokens.weight"]);
        Assert.Equal([8L, 8], llama["model.layers.1.self_attn.q_proj.weight"]);
        Assert.Equal([4L, 8], llama["model.layers.1.self_attn.k_proj.weight"]);
        Assert.Equal([4L, 8], llama["model.layers.1.self_attn.v_proj.weight"]);
        Assert.Equal([8L, 8], llama["model.layers.1.self_attn.o_proj.weight"]);
        Assert.Equal([12L, 8], llama["model.layers.0.mlp.gate_proj.weight"]);
        Assert.Equal([8L, 12], llama["model.layers.0.mlp.down_proj.weight"]);
        Assert.Equal([10L, 8], llama["lm_head.weight"]);

        var qwen = HuggingFaceLlamaNames.ExpectedTensors(Tiny(HuggingFaceLlamaConfig.Qwen2Architecture, tied: true)).ToDictionary(t => t.Name, t => t.Shape);
        Assert.Equal(1 + 2 * 12 + 1, qwen.Count);
        Assert.Equal([4L], qwen["model.layers.1.self_attn.k_proj.bias"]);
        Assert.Equal([8L], qwen["model.layers.0.self_attn.q_proj.bias"]);
        Assert.False(qwen.ContainsKey("model.layers.0.self_attn.o_proj.bias"));
        Assert.False(qwen.ContainsKey("lm_head.weight"));

        var wideHeads = HuggingFaceLlamaNames.ExpectedTensors(Tiny() with { ConfiguredHeadDim = 6, AttentionBias = true, MlpBias = true }).ToDictionary(t => t.Name, t => t.Shape);
        Assert.Equal([24L, 8], wideHeads["model.layers.0.self_attn.q_proj.weight"]);
        Assert.Equal([8L, 24], wideHeads["model.layers.0.self_attn.o_proj.weight"]);
        Assert.Equal([8L], wideHeads["model.layers.0.self_attn.o_proj.bias"]);
        Assert.Equal([12L], wideHeads["model.layers.0.mlp.up_proj.bias"]);
    }

    private static SafetensorsReader FileOf(IEnumerable<(string Name, long[] Shape)> tensors, TensorDType dtype = TensorDType.BF16) =>
        Safetensors.Open(Safetensors.Serialize(tensors.Select(t =>
            NamedTensor.FromFloat32(t.Name, t.Shape, new float[t.Shape.Aggregate(1L, (a, b) => a * b)], dtype))), "model.safetensors");

    [Fact]
    public void CheckAcceptsAMatchingCheckpointAndExplainsMismatches()
    {
        var config = Tiny();
        var expected = HuggingFaceLlamaNames.ExpectedTensors(config);
        using (var good = FileOf(expected.Append(("model.layers.0.self_attn.rotary_emb.inv_freq", [1L]))))
            HuggingFaceLlamaNames.Check(good.Tensors, config);

        using (var tiedWithHead = FileOf(expected))
            HuggingFaceLlamaNames.Check(tiedWithHead.Tensors, config with { TieWordEmbeddings = true });

        using (var missing = FileOf(expected.Where(t => t.Name != "model.norm.weight")))
            Assert.Contains("missing, e.g. 'model.norm.weight'", Assert.Throws<InvalidDataException>(() => HuggingFaceLlamaNames.Check(missing.Tensors, config, "m.safetensors")).Message);

        using (var wrongShape = FileOf(expected.Select(t => t.Name == "model.layers.1.self_attn.k_proj.weight" ? (t.Name, new long[] { 8, 8 }) : t)))
            Assert.Contains("'model.layers.1.self_attn.k_proj.weight' has shape [8, 8] but config.json implies [4, 8]",
                Assert.Throws<InvalidDataException>(() => HuggingFaceLlamaNames.Check(wrongShape.Tensors, config)).Message);

        using (var extra = FileOf(expected.Append(("model.layers.0.self_attn.q_proj.bias", [8L]))))
            Assert.Contains("does not account for, e.g. 'model.layers.0.self_attn.q_proj.bias'", Assert.Throws<InvalidDataException>(() => HuggingFaceLlamaNames.Check(extra.Tensors, config)).Message);

        using var integers = Safetensors.Open(Safetensors.Serialize(expected.Select(t =>
            new NamedTensor(t.Name, TensorDType.I32, t.Shape, new byte[t.Shape.Aggregate(4L, (a, b) => a * b)]))));
        Assert.Contains("dtype I32", Assert.Throws<InvalidDataException>(() => HuggingFaceLlamaNames.Check(integers.Tensors, config)).Message);
    }

    [Fact]
    public void PeftNamesAndShapes()
    {
        Assert.Equal("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight", PeftLoraNames.LoraA(3, LlamaProjection.Query));
        Assert.Equal("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight", PeftLoraNames.LoraB(0, LlamaProjection.Down));
        var (a, b) = PeftLoraNames.Shapes(Tiny(), LlamaProjection.Key, rank: 3);
        Assert.Equal([3L, 8], a);
        Assert.Equal([4L, 3], b);
        var (downA, downB) = PeftLoraNames.Shapes(Tiny(), LlamaProjection.Down, rank: 2);
        Assert.Equal([2L, 12], downA);
        Assert.Equal([8L, 2], downB);

        foreach (var projection in Enum.GetValues<LlamaProjection>())
        {
            foreach (int layer in new[] { 0, 7, 123 })
            {
                Assert.True(PeftLoraNames.TryParse(PeftLoraNames.LoraA(layer, projection), out int l, out var p, out bool isA));
                Assert.Equal((layer, projection, true), (l, p, isA));
                Assert.True(PeftLoraNames.TryParse(PeftLoraNames.LoraB(layer, projection), out l, out p, out isA));
                Assert.Equal((layer, projection, false), (l, p, isA));
            }
        }
        foreach (var name in new[]
        {
            "base_model.model.model.layers.01.self_attn.q_proj.lora_A.weight",
            "base_model.model.model.layers.-1.self_attn.q_proj.lora_A.weight",
            "base_model.model.model.layers.1.self_attn.q_proj.lora_C.weight",
            "base_model.model.model.layers.1.self_attn.q_proj.lora_A.default.weight",
            "base_model.model.model.layers.1.mlp.q_proj.lora_A.weight",
            "base_model.model.model.layers.99999999999.self_attn.q_proj.lora_A.weight",
            "model.layers.1.self_attn.q_proj.weight",
            "",
        })
        {
            Assert.False(PeftLoraNames.TryParse(name, out _, out _, out _), name);
        }
    }

    [Fact]
    public void AdapterCheckFollowsTargetsAndRank()
    {
        var model = Tiny();
        var adapter = LoraAdapterConfig.Parse(ConfigTests.PeftAdapterConfig);
        var expected = PeftLoraNames.ExpectedTensors(model, adapter);
        Assert.Equal(2 * 2 * 2, expected.Count); // 2 layers × {q, v} × {A, B}
        Assert.Contains(expected, t => t.Name == PeftLoraNames.LoraB(1, LlamaProjection.Value) && t.Shape.SequenceEqual(new long[] { 4, 8 }));
        using (var good = FileOf(expected, TensorDType.F32))
            PeftLoraNames.Check(good.Tensors, model, adapter);
        using (var withHead = FileOf(expected.Append(("base_model.model.lm_head.weight", [10L, 8])), TensorDType.F32))
        {
            Assert.Throws<InvalidDataException>(() => PeftLoraNames.Check(withHead.Tensors, model, adapter));
            PeftLoraNames.Check(withHead.Tensors, model, adapter with { ModulesToSave = ["lm_head"] });
        }
        using var wrongRank = FileOf(expected, TensorDType.F32);
        Assert.Contains("adapter_config.json implies", Assert.Throws<InvalidDataException>(() => PeftLoraNames.Check(wrongRank.Tensors, model, adapter with { Rank = 4 })).Message);
    }
}
