using System.Text;
using System.Text.Json;
using Terse.Models;
using Terse.Neural.Checkpoints;
using Terse.Tests.Infrastructure;
using Terse.Tests.Neural;

namespace Terse.Tests.Models;

public class ModelResolverTests
{
    [Fact]
    public void Built_in_names_load_fresh_copies_with_their_own_tokenizer()
    {
        foreach (var builtIn in ModelResolver.BuiltIns)
        {
            var a = ModelResolver.Load(builtIn.Name);
            var b = ModelResolver.Load(builtIn.Name.ToUpperInvariant());
            Assert.NotSame(a, b);
            Assert.Equal(a.ComputeIdentity(), b.ComputeIdentity());
            var tokenizer = ModelResolver.LoadTokenizer(null, builtIn.Name);
            Assert.Equal(a.Config.VocabSize, tokenizer.VocabularySize);
            Assert.Equal(builtIn.Name, ModelResolver.RecordedName(builtIn.Name.ToLowerInvariant()));
        }
    }

    [Fact]
    public void The_shipped_stories260K_is_the_shared_data_file()
    {
        Assert.Equal(Llama2cCheckpoint.Load(TestData.Path("models/stories260K.bin")).ComputeIdentity(), ModelResolver.Load("stories260K").ComputeIdentity());
    }

    [Fact]
    public void Files_and_folders_load_and_unknown_names_say_what_exists()
    {
        var file = TestData.Path("models/stories260K.bin");
        Assert.Equal(5, ModelResolver.Load(file).Config.Layers);
        var error = Assert.Throws<FileNotFoundException>(() => ModelResolver.Load("stories999K"));
        Assert.Contains("no such model file", error.Message);
        Assert.Contains("stories260K", error.Message);
        var noTokenizer = Assert.Throws<ArgumentException>(() => ModelResolver.LoadTokenizer(null, file));
        Assert.Contains("--tokenizer", noTokenizer.Message);
        // A llama2.c tokenizer file is read for the model's vocabulary size.
        Assert.Equal(512, ModelResolver.LoadTokenizer(TestData.Path("models/stories260K_tok512.bin"), file, 512).VocabularySize);
    }

    [Fact]
    public void Every_default_names_a_built_in_model()
    {
        foreach (var command in new[] { "compress -m entropy", "ztokens train", "gmsa train", "eval", "lm pretrain --teacher" })
            Assert.NotNull(ModelResolver.FindBuiltIn(ModelResolver.DefaultFor(command)));
        Assert.Throws<ArgumentException>(() => ModelResolver.DefaultFor("no such command"));
    }

    [Fact]
    public void Terse_models_lists_every_built_in_with_what_it_is_the_default_of()
    {
        var (exit, stdout, stderr) = LmCommandTests.RunCli("models", "--json");
        Assert.True(exit == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var rows = json.RootElement.EnumerateArray().ToList();
        Assert.Equal(ModelResolver.BuiltIns.Select(m => m.Name), rows.Select(r => r.GetProperty("name").GetString()));
        foreach (var row in rows)
            Assert.All(row.GetProperty("default_for").EnumerateArray(), c => Assert.False(string.IsNullOrEmpty(c.GetString())));
        var all = rows.SelectMany(r => r.GetProperty("default_for").EnumerateArray().Select(c => c.GetString())).ToList();
        Assert.Contains("ztokens train", all);
        Assert.Equal(all.Count, all.Distinct().Count());
        var (textExit, text, _) = LmCommandTests.RunCli("models");
        Assert.Equal(0, textExit);
        Assert.Contains("default for:", Encoding.UTF8.GetString(text));
    }

    [Fact]
    public void Lm_commands_take_a_built_in_name_without_a_tokenizer()
    {
        var (exit, stdout, stderr) = LmCommandTests.RunCli("lm", "generate", "-m", "stories260K", "-n", "20", "--temperature", "0", "--json");
        Assert.True(exit == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.StartsWith("Once upon a time", json.RootElement.GetProperty("text").GetString());
        var missing = LmCommandTests.RunCli("lm", "generate", "-m", TestData.Path("models/stories260K.bin"), "-n", "5");
        Assert.Equal(1, missing.ExitCode);
        Assert.StartsWith("terse: error:", missing.Stderr);
        Assert.Contains("--tokenizer", missing.Stderr);
    }
}

/// <summary>Each shipped model that is meant to read its context does, on a small held-out case.</summary>
public class ShippedModelCopyTests
{
    public static TheoryData<string> CopyingModels() => new(ModelResolver.BuiltIns.Where(m => m.ReadsContext).Select(m => m.Name));

    [Theory]
    [MemberData(nameof(CopyingModels))]
    public void A_held_out_passage_costs_little_the_second_time(string name)
    {
        var tokenizer = ModelResolver.LoadTokenizer(null, name);
        var folder = Path.Combine(TestData.SharedDataRoot, "text");
        var passages = new[] { "tinystories_valid_head.txt", "wikitext2_raw_test.txt" }
            .SelectMany(file => Terse.Pretraining.CopyTest.Passages(folder, Terse.Corpora.TextCorpus.Source(file), Terse.Corpora.Split.HeldOut, tokenizer, 4, 64, 120))
            .Select(p => p.Tokens).ToList();
        var result = Terse.Pretraining.CopyTest.Run(ModelResolver.Load(name), passages, tokenizer.BosId!.Value, Terse.Pretraining.CopyTest.SeparatorIds(tokenizer, "\n\n"));
        Assert.True(result.SecondBitsPerToken < 0.5, $"{name}: second copy {result.SecondBitsPerToken:F3} bits/token");
        Assert.True(result.SecondBitsPerToken < result.FirstBitsPerToken / 5, $"{name}: {result.FirstBitsPerToken:F3} → {result.SecondBitsPerToken:F3}");
    }
}
