using System.Text.Json.Nodes;
using Terse.Neural.Checkpoints;
using Terse.Tokenization.Llama2c;
using Terse.ZTokens;
using TestData = Terse.Tests.Infrastructure.TestData;

namespace Terse.Tests.ZTokens;

/// <summary>
/// A saved Z-token model folder is external data: any damage to its manifest or its rows file must be
/// refused with an <see cref="InvalidDataException"/> (never another exception, never a silently
/// different model).
/// </summary>
public class ZTokenModelFolderTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("terse-ztokens-folder-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static ZTokenModel LoadFrom(string path) =>
        ZTokenModel.Load(path, _ => Llama2cCheckpoint.Load(TestData.Path("models/stories260K.bin")));

    /// <summary>Loads, and if that succeeds, the model must be the saved one.</summary>
    private static void LoadsAsSavedOrIsRefused(string path, byte[] identity)
    {
        try
        {
            Assert.Equal(identity, LoadFrom(path).Identity);
        }
        catch (InvalidDataException e)
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
        }
    }

    [Fact]
    public void MutatedManifestsAndRowFilesAreRefusedCleanly()
    {
        var model = ZTokenCodecTests.Stories(70);
        model.Save(folder, Llama2cTokenizer.Stories260K);
        string manifestPath = Path.Combine(folder, "ztokens.json"), rowsPath = Path.Combine(folder, "z_rows.safetensors");
        var manifest = File.ReadAllBytes(manifestPath);
        var rows = File.ReadAllBytes(rowsPath);
        var random = new Random(71);
        JsonNode?[] odd = [null, -1, 0, 1, 513, int.MaxValue, long.MaxValue, 1e300, "", "x", "00ff", true, new JsonArray(), new JsonArray("q_proj", "nope"), new JsonObject()];
        var fields = JsonNode.Parse(manifest)!.AsObject().Select(p => p.Key).ToArray();
        for (int trial = 0; trial < 240; trial++)
        {
            byte[] mutatedManifest = manifest, mutatedRows = rows;
            switch (trial % 3)
            {
                case 0: // one field replaced by an odd value, or removed
                    var json = JsonNode.Parse(manifest)!.AsObject();
                    string field = fields[random.Next(fields.Length)];
                    if (random.Next(8) == 0)
                        json.Remove(field);
                    else
                        json[field] = odd[random.Next(odd.Length)]?.DeepClone();
                    mutatedManifest = System.Text.Encoding.UTF8.GetBytes(json.ToJsonString());
                    break;
                case 1: // bytes of the manifest changed
                    mutatedManifest = (byte[])manifest.Clone();
                    for (int f = random.Next(1, 3); f > 0; f--)
                        mutatedManifest[random.Next(mutatedManifest.Length)] = (byte)"0123456789\",:{}[]ax -"[random.Next(21)];
                    break;
                default: // bytes of the rows file changed or cut
                    mutatedRows = random.Next(4) == 0 ? rows[..random.Next(rows.Length)] : (byte[])rows.Clone();
                    if (mutatedRows.Length == rows.Length)
                        mutatedRows[random.Next(mutatedRows.Length)] ^= (byte)(1 << random.Next(8));
                    break;
            }
            File.WriteAllBytes(manifestPath, mutatedManifest);
            File.WriteAllBytes(rowsPath, mutatedRows);
            LoadsAsSavedOrIsRefused(folder, model.Identity);
        }
    }
}
