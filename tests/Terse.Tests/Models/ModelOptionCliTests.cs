using Terse.Tests.Infrastructure;
using Terse.Tests.MetaTokens;

namespace Terse.Tests.Models;

/// <summary>
/// Issue 13's structure must-show: <c>lm</c>, <c>compress</c>, <c>ztokens</c> and <c>gmsa</c>
/// accept the same model names and paths, through the one resolver. Each command gets the same
/// model three ways: a built-in name, a llama2.c <c>.bin</c>, and a Hugging Face folder converted
/// from it, and must run on all three (the built CLI in a child process, the shortest runs each
/// command allows).
/// </summary>
public sealed class ModelOptionCliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("terse-model-option-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string PathOf(string name) => Path.Combine(_folder, name);

    [Fact]
    public void Every_command_takes_a_built_in_name_a_llama2c_file_and_a_Hugging_Face_folder()
    {
        File.WriteAllText(PathOf("text.txt"), TestData.ReadText("text/tinystories_valid_head.txt")[..3_000]);
        var (exit, _, err) = CompressCliTests.Terse(null, "lm", "convert", "-m", "stories260K", "-o", PathOf("hf"));
        Assert.True(exit == 0, err);
        var forms = new (string Name, string[] Model)[]
        {
            ("built-in name", ["stories260K"]),
            ("llama2.c file", [TestData.Path("models/stories260K.bin"), "-t", "stories260K"]),
            ("Hugging Face folder", [PathOf("hf"), "-t", "stories260K"]),
        };
        int run = 0;
        foreach (var (name, model) in forms)
        {
            var commands = new (string Command, string[] Args)[]
            {
                ("lm eval", ["lm", "eval", PathOf("text.txt"), "-m", .. model]),
                ("compress -m entropy", ["compress", "-m", "entropy", PathOf("text.txt"), "-o", PathOf($"out{run}.tsec"), "--model", .. model]),
                ("ztokens train", ["ztokens", "train", PathOf("text.txt"), "-o", PathOf($"z{run}"), "--steps", "1", "--batch", "2",
                    "--z-vocab", "16", "--segment", "8", "--max-code", "2", "--rank", "2", "--checkpoint-every", "0", "-m", .. model]),
                ("gmsa train", ["gmsa", "train", PathOf("text.txt"), "-o", PathOf($"g{run}"), "--steps", "1", "--batch", "2",
                    "--segment", "16", "--rates", "4", "--rank", "2", "-m", .. model]),
            };
            foreach (var (command, args) in commands)
            {
                (exit, _, err) = CompressCliTests.Terse(null, args);
                Assert.True(exit == 0, $"{command} with a {name}: {err}");
            }
            run++;
        }
    }
}
