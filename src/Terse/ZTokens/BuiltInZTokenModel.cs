using System.Security.Cryptography;

namespace Terse.ZTokens;

/// <summary>
/// The Z-token model that ships inside the library (<c>assets/ztokens/</c>; its card is
/// docs/ztokens.md § The shipped model): what <c>terse compress -m ztokens</c> and
/// <c>terse decompress</c> use when no <c>--ztokens</c> folder is given. A model folder is read
/// from files, so the embedded files are written once into a folder of the temporary directory
/// named by their hash; <see cref="ZTokenModel.Load"/> then checks the whole model's identity.
/// </summary>
public static class BuiltInZTokenModel
{
    public const string Name = "ztokens-terse1M";

    // The files of a model folder (docs/formats.md § Z-tokens), checkpoint left out.
    private static readonly string[] Files =
    [
        "ztokens.json", "z_rows.safetensors",
        "compressor/adapter_config.json", "compressor/adapter_model.safetensors",
        "decompressor/adapter_config.json", "decompressor/adapter_model.safetensors",
    ];

    private static readonly Lazy<string> s_folder = new(Extract);

    /// <summary>The folder holding the built-in model's files (written on first use).</summary>
    public static string Folder => s_folder.Value;

    public static ZTokenModel Load() => ZTokenModel.Load(Folder, Models.ModelResolver.Load);

    private static string Extract()
    {
        var contents = Files.Select(Read).ToArray();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var bytes in contents)
            hash.AppendData(bytes);
        string folder = Path.Combine(Path.GetTempPath(), $"terse-{Name}-{Convert.ToHexStringLower(hash.GetHashAndReset())[..16]}");
        if (Directory.Exists(folder))
            return folder;
        // Written beside the final name and moved there in one step, so a reader never sees half a folder.
        string staging = $"{folder}.{Environment.ProcessId}.{Guid.NewGuid():N}";
        for (int i = 0; i < Files.Length; i++)
        {
            string path = Path.Combine(staging, Files[i]);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, contents[i]);
        }
        try
        {
            Directory.Move(staging, folder);
        }
        catch (IOException) when (Directory.Exists(folder))
        {
            Directory.Delete(staging, recursive: true);   // another process got there first
        }
        return folder;
    }

    private static byte[] Read(string file)
    {
        string resource = "Terse.Assets.ztokens." + file.Replace('/', '.');
        using var stream = typeof(BuiltInZTokenModel).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"the built-in Z-token model is missing {file} from the library");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }
}
