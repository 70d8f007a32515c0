using Terse.Neural;
using Terse.Neural.Checkpoints;

namespace Terse.Tests.Neural.Checkpoints;

public class ConfigTests
{
    // The config.json of TinyLlama-1.1B (Llama architecture with grouped-query attention).
    internal const string TinyLlamaConfig = """
        {
          "architectures": ["LlamaForCausalLM"],
          "attention_bias": false,
          "bos_token_id": 1,
          "eos_token_id": 2,
          "hidden_act": "silu",
          "hidden_size": 2048,
          "initializer_range": 0.02,
          "intermediate_size": 5632,
          "max_position_embeddings": 2048,
          "model_type": "llama",
          "num_attention_heads": 32,
          "num_hidden_layers": 22,
          "num_key_value_heads": 4,
          "pretraining_tp": 1,
          "rms_norm_eps": 1e-05,
          "rope_scaling": null,
          "rope_theta": 10000.0,
          "tie_word_embeddings": false,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.35.0",
          "use_cache": true,
          "vocab_size": 32000
        }
        """;

    // The config.json of Qwen2.5-0.5B (q/k/v biases, tied embeddings).
    internal const string Qwen25Config = """
        {
          "architectures": ["Qwen2ForCausalLM"],
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "eos_token_id": 151643,
          "hidden_act": "silu",
          "hidden_size": 896,
          "initializer_range": 0.02,
          "intermediate_size": 4864,
          "max_position_embeddings": 32768,
          "max_window_layers": 24,
          "model_type": "qwen2",
          "num_attention_heads": 14,
          "num_hidden_layers": 24,
          "num_key_value_heads": 2,
          "rms_norm_eps": 1e-06,
          "rope_theta": 1000000.0,
          "sliding_window": 32768,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.40.1",
          "use_cache": true,
          "use_sliding_window": false,
          "vocab_size": 151936
        }
        """;

    // An adapter_config.json as PEFT 0.12 writes it.
    internal const string PeftAdapterConfig = """
        {
          "alpha_pattern": {},
          "auto_mapping": null,
          "base_model_name_or_path": "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
          "bias": "none",
          "fan_in_fan_out": false,
          "inference_mode": true,
          "init_lora_weights": true,
          "layer_replication": null,
          "layers_pattern": null,
          "layers_to_transform": null,
          "loftq_config": {},
          "lora_alpha": 16,
          "lora_dropout": 0.05,
          "megatron_config": null,
          "megatron_core": "megatron.core",
          "modules_to_save": null,
          "peft_type": "LORA",
          "r": 8,
          "rank_pattern": {},
          "revision": null,
          "target_modules": ["v_proj", "q_proj"],
          "task_type": "CAUSAL_LM",
          "use_dora": false,
          "use_rslora": false
        }
        """;

    [Fact]
    public void ReadsALlamaConfig()
    {
        var config = HuggingFaceLlamaConfig.Parse(TinyLlamaConfig);
        Assert.Equal(HuggingFaceLlamaConfig.LlamaArchitecture, config.Architecture);
        Assert.Equal((2048, 5632, 22, 32, 4, 32000), (config.HiddenSize, config.IntermediateSize, config.NumHiddenLayers, config.NumAttentionHeads, config.NumKeyValueHeads, config.VocabSize));
        Assert.Equal(64, config.HeadDim);
        Assert.Equal((2048, 10000.0, 1e-5), (config.MaxPositionEmbeddings, config.RopeTheta, config.RmsNormEps));
        Assert.False(config.TieWordEmbeddings);
        Assert.False(config.HasQkvBias);
        Assert.False(config.HasOutputBias);
        Assert.Equal("bfloat16", config.TorchDtype);
        Assert.Equal(1, config.BosTokenId);
        Assert.Equal([2], config.EosTokenIds);
    }

    [Fact]
    public void ReadsAQwen2ConfigWithItsImplicitQkvBias()
    {
        var config = HuggingFaceLlamaConfig.Parse(Qwen25Config);
        Assert.True(config.IsQwen2);
        Assert.Equal(64, config.HeadDim);
        Assert.Equal(1_000_000.0, config.RopeTheta);
        Assert.True(config.TieWordEmbeddings);
        Assert.True(config.HasQkvBias);
        Assert.False(config.HasOutputBias);
        Assert.Equal(151643, config.BosTokenId);
    }

    [Fact]
    public void AppliesHuggingFaceDefaultsAndAcceptsNewerSpellings()
    {
        var config = HuggingFaceLlamaConfig.Parse("""
            {"model_type": "llama", "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 5,
             "num_attention_heads": 8, "vocab_size": 512, "eos_token_id": [128001, 128009], "dtype": "float32",
             "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}, "head_dim": 16}
            """);
        Assert.Equal(8, config.NumKeyValueHeads);
        Assert.Equal(16, config.HeadDim);
        Assert.Equal((2048, 500000.0, 1e-6), (config.MaxPositionEmbeddings, config.RopeTheta, config.RmsNormEps));
        Assert.Equal([128001, 128009], config.EosTokenIds);
        Assert.Equal("float32", config.TorchDtype);
        Assert.Null(config.BosTokenId);
    }

    // The rope_scaling of Llama-3.2-1B's config.json.
    private const string Llama32Scaling = """
        {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}
        """;

    [Fact]
    public void ReadsEveryRopeScalingTransformersDefinesThatTheEngineImplements()
    {
        RopeScaling? Scaling(string rope, string field = "rope_scaling", int maxPositions = 2048) =>
            HuggingFaceLlamaConfig.Parse(Replace(Replace(TinyLlamaConfig, "\"rope_scaling\": null", $"\"{field}\": {rope}"),
                "\"max_position_embeddings\": 2048", $"\"max_position_embeddings\": {maxPositions}")).RopeScaling;

        var llama3 = Scaling(Llama32Scaling, maxPositions: 131072)!;
        Assert.Equal((RopeScalingType.Llama3, 32.0, 8192, 1.0, 4.0), (llama3.Type, llama3.Factor, llama3.OriginalMaxPositions, llama3.LowFrequencyFactor, llama3.HighFrequencyFactor));
        // The older "type" key, as LongChat-style linear configs spell it.
        Assert.Equal(new RopeScaling { Type = RopeScalingType.Linear, Factor = 8 }, Scaling("""{"type": "linear", "factor": 8.0}"""));
        // Dynamic NTK measures against max_position_embeddings itself.
        Assert.Equal(new RopeScaling { Type = RopeScalingType.Dynamic, Factor = 2, OriginalMaxPositions = 2048 }, Scaling("""{"rope_type": "dynamic", "factor": 2.0}"""));
        Assert.Null(Scaling("""{"rope_type": "default"}"""));
        // YaRN: a stated original length replaces the factor; the attention factor is 0.1·ln(factor) + 1.
        var yarn = Scaling("""{"rope_type": "yarn", "factor": 99, "original_max_position_embeddings": 4096, "rope_theta": 500000}""", "rope_parameters", 32768)!;
        Assert.Equal((8.0, 4096, 32.0, 1.0, true), (yarn.Factor, yarn.OriginalMaxPositions, yarn.BetaFast, yarn.BetaSlow, yarn.Truncate));
        Assert.Equal(0.1 * Math.Log(8) + 1, yarn.AttentionFactor, 15);
        var deepseek = Scaling("""{"rope_type": "yarn", "factor": 40, "mscale": 1.0, "mscale_all_dim": 0.707, "beta_fast": 0, "truncate": false}""")!;
        Assert.Equal((0.1 * Math.Log(40) + 1) / (0.1 * 0.707 * Math.Log(40) + 1), deepseek.AttentionFactor, 15);
        Assert.Equal((32.0, false, 2048), (deepseek.BetaFast, deepseek.Truncate, deepseek.OriginalMaxPositions));
    }

    [Fact]
    public void RopeScalingRoundTripsThroughConfigJson()
    {
        var baseConfig = HuggingFaceLlamaConfig.Parse(TinyLlamaConfig);
        foreach (var scaling in new[]
        {
            new RopeScaling { Type = RopeScalingType.Linear, Factor = 4 },
            new RopeScaling { Type = RopeScalingType.Dynamic, Factor = 2.5, OriginalMaxPositions = 2048 },
            new RopeScaling { Type = RopeScalingType.Llama3, Factor = 8, OriginalMaxPositions = 512, LowFrequencyFactor = 1, HighFrequencyFactor = 4 },
            new RopeScaling { Type = RopeScalingType.Yarn, Factor = 4, OriginalMaxPositions = 512, BetaFast = 16, AttentionFactor = 1.25, Truncate = false },
            new RopeScaling { Type = RopeScalingType.Yarn, Factor = 3, OriginalMaxPositions = 2048, AttentionFactor = 1.1 },
        })
        {
            var config = baseConfig with { RopeScaling = scaling };
            Assert.Equal(scaling, HuggingFaceLlamaConfig.Parse(config.ToJson()).RopeScaling);
        }
    }

    [Fact]
    public void GenerationConfigOverridesConfigJsonsTokenIds()
    {
        var folder = Directory.CreateTempSubdirectory("terse-generation-");
        try
        {
            var config = HuggingFaceLlamaConfig.Parse(TinyLlamaConfig);
            string path = Path.Combine(folder.FullName, HuggingFaceLlamaConfig.GenerationConfigFile);
            File.WriteAllText(path, """{"bos_token_id": 7, "eos_token_id": [2, 9], "do_sample": true, "temperature": 0.6}""");
            var updated = config.WithGenerationConfig(path);
            Assert.Equal(7, updated.BosTokenId);
            Assert.Equal([2, 9], updated.EosTokenIds);
            File.WriteAllText(path, """{"eos_token_id": 5}""");
            var eosOnly = config.WithGenerationConfig(path);
            Assert.Equal(1, eosOnly.BosTokenId);
            Assert.Equal([5], eosOnly.EosTokenIds);
            File.WriteAllText(path, """{"eos_token_id": [2, 32000]}""");
            var error = Assert.Throws<InvalidDataException>(() => config.WithGenerationConfig(path));
            Assert.Contains($"{path}: field 'eos_token_id' must be below vocab_size 32000", error.Message);
            File.WriteAllText(path, """{"bos_token_id": "1"}""");
            Assert.Contains("'bos_token_id' must be a non-negative integer", Assert.Throws<InvalidDataException>(() => config.WithGenerationConfig(path)).Message);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void ConfigRoundTripsThroughItsJson()
    {
        foreach (var text in new[] { TinyLlamaConfig, Qwen25Config })
        {
            var config = HuggingFaceLlamaConfig.Parse(text);
            string json = config.ToJson();
            var again = HuggingFaceLlamaConfig.Parse(json);
            Assert.Equal(json, again.ToJson());
            Assert.Equal(config with { EosTokenIds = again.EosTokenIds }, again);
            Assert.Equal(config.EosTokenIds, again.EosTokenIds);
        }
        var withHeadDim = HuggingFaceLlamaConfig.Parse(TinyLlamaConfig) with { ConfiguredHeadDim = 32, EosTokenIds = [5, 6], AttentionBias = true };
        var back = HuggingFaceLlamaConfig.Parse(withHeadDim.ToJson());
        Assert.Equal((32, true, true), (back.HeadDim, back.HasQkvBias, back.HasOutputBias));
        Assert.Equal([5, 6], back.EosTokenIds);
        Assert.StartsWith("{\n  \"architectures\": [\n    \"LlamaForCausalLM\"\n  ],\n  \"attention_bias\": true,", withHeadDim.ToJson().ReplaceLineEndings("\n"));
    }

    [Fact]
    public void ConfigFilesAreWrittenAtomicallyAndReadBack()
    {
        var folder = Directory.CreateTempSubdirectory("terse-config-");
        try
        {
            var config = HuggingFaceLlamaConfig.Parse(Qwen25Config);
            var path = Path.Combine(folder.FullName, "config.json");
            config.Write(path);
            Assert.Equal(config.ToJson(), HuggingFaceLlamaConfig.Read(path).ToJson());

            var adapter = LoraAdapterConfig.Parse(PeftAdapterConfig);
            var adapterPath = Path.Combine(folder.FullName, "adapter_config.json");
            adapter.Write(adapterPath);
            Assert.Equal(adapter.ToJson(), LoraAdapterConfig.Read(adapterPath).ToJson());
            Assert.Equal(2, Directory.GetFiles(folder.FullName).Length);
            Assert.Throws<FileNotFoundException>(() => HuggingFaceLlamaConfig.Read(Path.Combine(folder.FullName, "none.json")));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    public static TheoryData<string, string> BadModelConfigs => new()
    {
        { "[1]", "expected a JSON object" },
        { "{\"hidden_size\": 64", "not valid JSON" },
        { "{\"architectures\": [\"MistralForCausalLM\"], \"hidden_size\": 64}", "'architectures' must be" },
        { "{\"architectures\": [\"LlamaForCausalLM\", \"Qwen2ForCausalLM\"]}", "exactly one" },
        { "{\"hidden_size\": 64}", "'architectures' is required" },
        { "{\"model_type\": \"gpt2\"}", "'model_type' must be" },
        { "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"qwen2\"}", "'model_type' must be \"llama\"" },
        { Replace(TinyLlamaConfig, "\"hidden_size\": 2048", "\"hidden_size\": \"2048\""), "'hidden_size' must be a positive integer, found \"2048\"" },
        { Replace(TinyLlamaConfig, "\"hidden_size\": 2048", "\"hidden_size\": 0"), "'hidden_size' must be a positive integer" },
        { Replace(TinyLlamaConfig, "\"hidden_size\": 2048", "\"hidden_size\": 2048.5"), "'hidden_size' must be a positive integer" },
        { Replace(TinyLlamaConfig, "\"hidden_size\": 2048,", ""), "'hidden_size' is required" },
        { Replace(TinyLlamaConfig, "\"hidden_size\": 2048", "\"hidden_size\": 2047"), "not a multiple of num_attention_heads" },
        { Replace(TinyLlamaConfig, "\"num_key_value_heads\": 4", "\"num_key_value_heads\": 5"), "not a multiple of num_key_value_heads" },
        { Replace(TinyLlamaConfig, "\"num_attention_heads\": 32", "\"num_attention_heads\": 32, \"head_dim\": 7"), "must be positive and even" },
        { Replace(TinyLlamaConfig, "\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": -1"), "rms_norm_eps" },
        { Replace(TinyLlamaConfig, "\"rope_theta\": 10000.0", "\"rope_theta\": \"big\""), "'rope_theta' must be a finite number" },
        { Replace(TinyLlamaConfig, "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"longrope\", \"factor\": 8.0}"), "'rope_scaling.rope_type' must be \"default\", \"linear\", \"dynamic\", \"llama3\" or \"yarn\"" },
        { Replace(TinyLlamaConfig, "\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"su\", \"factor\": 8.0}"), "'rope_scaling.type' must be" },
        { Replace(TinyLlamaConfig, "\"rope_scaling\": null", "\"rope_scaling\": {\"factor\": 8.0}"), "'rope_scaling.rope_type' is required" },
        { Replace(TinyLlamaConfig, "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}"), "'rope_scaling.low_freq_factor' is required for rope_type \"llama3\"" },
        { Replace(TinyLlamaConfig, "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1, \"high_freq_factor\": 4}"), "'rope_scaling.original_max_position_embeddings' is required" },
        { Replace(TinyLlamaConfig, "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 4, \"high_freq_factor\": 4, \"original_max_position_embeddings\": 8192}"), "'rope_scaling': llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor" },
        { Replace(TinyLlamaConfig, "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"linear\"}"), "'rope_scaling.factor' is required" },
        { Replace(TinyLlamaConfig, "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": \"2\"}"), "'rope_scaling.factor' must be a finite number, found \"2\"" },
        { Replace(TinyLlamaConfig, "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": -2}"), "factor -2 must be a positive finite number" },
        { Replace(TinyLlamaConfig, "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2, \"factor\": 3}"), "'rope_scaling.factor' appears twice" },
        { Replace(TinyLlamaConfig, "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2, \"partial_rotary_factor\": 0.5}"), "'rope_scaling.partial_rotary_factor' other than 1 is not supported" },
        { Replace(TinyLlamaConfig, "\"rope_scaling\": null", "\"rope_scaling\": [1]"), "'rope_scaling' must be an object or null" },
        { Replace(TinyLlamaConfig, "\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2}, \"rope_parameters\": {\"rope_type\": \"linear\", \"factor\": 3}"), "'rope_parameters' disagrees with rope_scaling" },
        { Replace(TinyLlamaConfig, "\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\""), "'hidden_act' must be \"silu\"" },
        { Replace(TinyLlamaConfig, "\"tie_word_embeddings\": false", "\"tie_word_embeddings\": 0"), "'tie_word_embeddings' must be true or false" },
        { Replace(TinyLlamaConfig, "\"eos_token_id\": 2", "\"eos_token_id\": [2, \"x\"]"), "'eos_token_id' must be an integer" },
        { Replace(TinyLlamaConfig, "\"bos_token_id\": 1", "\"bos_token_id\": -1"), "'bos_token_id' must be a non-negative integer" },
        { Replace(TinyLlamaConfig, "\"vocab_size\": 32000", "\"vocab_size\": 32000, \"vocab_size\": 32001"), "'vocab_size' appears twice" },
        { Replace(Qwen25Config, "\"use_sliding_window\": false", "\"use_sliding_window\": true"), "'use_sliding_window' is not supported" },
        { Replace(TinyLlamaConfig, "\"num_attention_heads\": 32", "\"num_attention_heads\": 2, \"head_dim\": 2000000000"), "too large" },
    };

    internal static string Replace(string text, string from, string to)
    {
        Assert.Contains(from, text);
        return text.Replace(from, to);
    }

    [Theory]
    [MemberData(nameof(BadModelConfigs))]
    public void RejectsMalformedModelConfigsWithAClearMessage(string json, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceLlamaConfig.Parse(json, "model/config.json"));
        Assert.Contains(expected, error.Message);
        Assert.StartsWith("model/config.json: ", error.Message);
    }

    [Fact]
    public void ReadsAPeftLoraConfig()
    {
        var adapter = LoraAdapterConfig.Parse(PeftAdapterConfig);
        Assert.Equal((8, 16.0, 0.05, 2.0), (adapter.Rank, adapter.Alpha, adapter.Dropout, adapter.Scaling));
        Assert.Equal(["v_proj", "q_proj"], adapter.TargetModules);
        Assert.Null(adapter.TargetModulesPattern);
        Assert.Equal(("none", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", false, "CAUSAL_LM"), (adapter.Bias, adapter.BaseModelNameOrPath, adapter.FanInFanOut, adapter.TaskType));
        Assert.Null(adapter.LayersToTransform);
        Assert.Empty(adapter.ModulesToSave);
        Assert.True(adapter.Targets(0, LlamaProjection.Query));
        Assert.True(adapter.Targets(21, LlamaProjection.Value));
        Assert.False(adapter.Targets(0, LlamaProjection.Key));
        Assert.False(adapter.Targets(3, LlamaProjection.Down));
    }

    [Fact]
    public void AdapterTargetingFollowsPeftRules()
    {
        var regex = LoraAdapterConfig.Parse("""{"peft_type": "LORA", "r": 4, "target_modules": ".*\\.(q|k)_proj", "use_rslora": true, "lora_alpha": 8}""");
        Assert.Equal(".*\\.(q|k)_proj", regex.TargetModulesPattern);
        Assert.Equal(8 / Math.Sqrt(4), regex.Scaling);
        Assert.Equal([LlamaProjection.Query, LlamaProjection.Key], Enum.GetValues<LlamaProjection>().Where(p => regex.Targets(2, p)));

        var all = LoraAdapterConfig.Parse("""{"peft_type": "LORA", "r": 4, "target_modules": "all-linear", "layers_to_transform": [1, 3]}""");
        Assert.Equal(7, Enum.GetValues<LlamaProjection>().Count(p => all.Targets(1, p)));
        Assert.Equal(0, Enum.GetValues<LlamaProjection>().Count(p => all.Targets(2, p)));

        var single = LoraAdapterConfig.Parse("""{"peft_type": "LORA", "r": 4, "target_modules": ["model.layers.0.mlp.down_proj", "gate_proj"], "layers_to_transform": 0}""");
        Assert.True(single.Targets(0, LlamaProjection.Down));
        Assert.True(single.Targets(0, LlamaProjection.Gate));
        Assert.False(single.Targets(1, LlamaProjection.Gate)); // layers_to_transform: 0 only
        Assert.Equal([0], single.LayersToTransform!);
    }

    [Fact]
    public void AdapterConfigRoundTripsThroughItsJson()
    {
        var configs = new[]
        {
            LoraAdapterConfig.Parse(PeftAdapterConfig),
            new LoraAdapterConfig { Rank = 16, Alpha = 2.5, TargetModulesPattern = "all-linear", LayersToTransform = [0, 2], ModulesToSave = ["lm_head"], UseRslora = true, Bias = "lora_only" },
        };
        foreach (var config in configs)
        {
            string json = config.ToJson();
            var again = LoraAdapterConfig.Parse(json);
            Assert.Equal(json, again.ToJson());
            Assert.Equal((config.Rank, config.Alpha, config.Dropout, config.TargetModulesPattern, config.Bias, config.UseRslora), (again.Rank, again.Alpha, again.Dropout, again.TargetModulesPattern, again.Bias, again.UseRslora));
            Assert.Equal(config.TargetModules, again.TargetModules);
            Assert.Equal(config.ModulesToSave, again.ModulesToSave);
        }
        Assert.Contains("\"lora_alpha\": 16,", configs[0].ToJson());
        Assert.Throws<ArgumentException>(() => new LoraAdapterConfig { Rank = 0, Alpha = 1, TargetModules = ["q_proj"] }.ToJson());
        Assert.Throws<ArgumentException>(() => new LoraAdapterConfig { Rank = 4, Alpha = 1 }.ToJson());
    }

    public static TheoryData<string, string> BadAdapterConfigs => new()
    {
        { "\"x\"", "expected a JSON object" },
        { "{\"r\": 8, \"target_modules\": [\"q_proj\"]}", "'peft_type' is required" },
        { "{\"peft_type\": \"IA3\", \"r\": 8}", "'peft_type' must be \"LORA\"" },
        { "{\"peft_type\": \"LORA\", \"target_modules\": [\"q_proj\"]}", "'r' is required" },
        { "{\"peft_type\": \"LORA\", \"r\": -8, \"target_modules\": [\"q_proj\"]}", "'r' must be a positive integer" },
        { "{\"peft_type\": \"LORA\", \"r\": 8}", "'target_modules' is required" },
        { "{\"peft_type\": \"LORA\", \"r\": 8, \"target_modules\": []}", "at least one" },
        { "{\"peft_type\": \"LORA\", \"r\": 8, \"target_modules\": [1]}", "'target_modules' must be a list of strings" },
        { "{\"peft_type\": \"LORA\", \"r\": 8, \"target_modules\": \"(q\"}", "not a valid regular expression" },
        { "{\"peft_type\": \"LORA\", \"r\": 8, \"target_modules\": [\"q_proj\"], \"lora_dropout\": 1.5}", "'lora_dropout' must be in [0, 1)" },
        { "{\"peft_type\": \"LORA\", \"r\": 8, \"target_modules\": [\"q_proj\"], \"lora_alpha\": 0}", "'lora_alpha' must be positive" },
        { "{\"peft_type\": \"LORA\", \"r\": 8, \"target_modules\": [\"q_proj\"], \"bias\": \"some\"}", "'bias' must be" },
        { "{\"peft_type\": \"LORA\", \"r\": 8, \"target_modules\": [\"q_proj\"], \"use_dora\": true}", "'use_dora' is not supported" },
        { "{\"peft_type\": \"LORA\", \"r\": 8, \"target_modules\": [\"q_proj\"], \"rank_pattern\": {\"q_proj\": 4}}", "'rank_pattern' is not supported" },
        { "{\"peft_type\": \"LORA\", \"r\": 8, \"target_modules\": [\"q_proj\"], \"layers_to_transform\": [-1]}", "'layers_to_transform' must be" },
        { "{\"peft_type\": \"LORA\", \"r\": 8, \"target_modules\": [\"q_proj\"], \"fan_in_fan_out\": \"no\"}", "'fan_in_fan_out' must be true or false" },
    };

    [Theory]
    [MemberData(nameof(BadAdapterConfigs))]
    public void RejectsMalformedAdapterConfigsWithAClearMessage(string json, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => LoraAdapterConfig.Parse(json));
        Assert.Contains(expected, error.Message);
        Assert.StartsWith("adapter_config.json: ", error.Message);
    }

    [Fact]
    public void MutatedConfigsAreParsedOrRejectedCleanly()
    {
        var random = new Random(9);
        var reasons = new Dictionary<string, int>();
        int parsed = 0;
        var seeds = new (string Text, Func<string, object> Parse)[]
        {
            (TinyLlamaConfig, text => HuggingFaceLlamaConfig.Parse(text)),
            (Qwen25Config, text => HuggingFaceLlamaConfig.Parse(text)),
            (PeftAdapterConfig, text => LoraAdapterConfig.Parse(text)),
        };
        string[] insertions = ["-", "0", "9", "\"", "{", "}", "[", "]", ",", ":", "null", "true", "1e400", "\"x\"", "2147483648", "0.5", "\\u0000"];
        for (int i = 0; i < 3000; i++)
        {
            var (seed, parse) = seeds[random.Next(seeds.Length)];
            var text = new System.Text.StringBuilder(seed);
            for (int m = random.Next(1, 4); m > 0 && text.Length > 0; m--)
            {
                int at = random.Next(text.Length);
                switch (random.Next(3))
                {
                    case 0: text.Remove(at, Math.Min(random.Next(1, 6), text.Length - at)); break;
                    case 1: text.Insert(at, insertions[random.Next(insertions.Length)]); break;
                    default: text[at] = (char)random.Next(32, 127); break;
                }
            }
            try
            {
                var config = parse(text.ToString());
                // Whatever parses must write out and parse again.
                _ = config is HuggingFaceLlamaConfig model ? (object)HuggingFaceLlamaConfig.Parse(model.ToJson()) : LoraAdapterConfig.Parse(((LoraAdapterConfig)config).ToJson());
                parsed++;
            }
            catch (InvalidDataException e)
            {
                SafetensorsFuzzTests.CountReason(reasons, e.Message);
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException($"case {i}: {e.GetType().Name}: {e.Message}\n{text}");
            }
        }
        Assert.InRange(parsed, 50, 2950);
        Assert.True(reasons.Count >= 10, string.Join("\n", reasons.Keys));
    }
}
