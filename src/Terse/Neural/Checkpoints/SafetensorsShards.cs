namespace Terse.Neural.Checkpoints;

/// <summary>
/// The weights of a Hugging Face folder as one set of tensors: a single <c>model.safetensors</c>, or the
/// shards that <c>model.safetensors.index.json</c> lists (<c>model-0000N-of-0000M.safetensors</c>). The
/// index must account for every tensor of every shard exactly once, and name only files beside it.
/// </summary>
public sealed class SafetensorsShards : IDisposable
{
    public const string SingleFile = "model.safetensors", IndexFile = "model.safetensors.index.json";

    private readonly SafetensorsReader[] _readers;
    private readonly Dictionary<string, SafetensorsReader> _byName = new(StringComparer.Ordinal);

    private SafetensorsShards(SafetensorsReader[] readers, string source)
    {
        _readers = readers;
        Source = source;
        foreach (var reader in readers)
            foreach (var tensor in reader.Tensors)
                _byName[tensor.Name] = reader;
        Tensors = readers.SelectMany(r => r.Tensors).ToArray();
    }

    /// <summary>The weights file, or the index, for messages.</summary>
    public string Source { get; }

    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>How many files hold the tensors.</summary>
    public int FileCount => _readers.Length;

    /// <summary>The folder's <see cref="SingleFile"/> when it has one (as transformers prefers it), else its <see cref="IndexFile"/>.</summary>
    public static SafetensorsShards OpenFolder(string directory)
    {
        string single = Path.Combine(directory, SingleFile), index = Path.Combine(directory, IndexFile);
        if (File.Exists(single))
            return OpenFile(single);
        if (File.Exists(index))
            return OpenIndex(index);
        throw new FileNotFoundException($"{directory}: no {SingleFile} and no {IndexFile}", single);
    }

    public static SafetensorsShards OpenFile(string path) => new([Safetensors.Open(path)], path);

    /// <summary>Opens every shard an index lists and checks the index against their headers.</summary>
    public static SafetensorsShards OpenIndex(string indexPath)
    {
        var map = ReadIndex(indexPath);
        string directory = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        var shards = map.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        if (shards.FirstOrDefault(shard => !File.Exists(Path.Combine(directory, shard))) is { } missing)
            throw new InvalidDataException($"{indexPath}: weight_map names {missing}, which is not in {directory}");
        var readers = new List<SafetensorsReader>();
        try
        {
            foreach (string shard in shards)
            {
                string path = Path.Combine(directory, shard);
                var reader = Safetensors.Open(path);
                readers.Add(reader);
                foreach (var tensor in reader.Tensors)
                {
                    if (!map.TryGetValue(tensor.Name, out string? listed))
                        throw new InvalidDataException($"{path}: tensor '{tensor.Name}' is not in {IndexFile}'s weight_map");
                    if (listed != shard)
                        throw new InvalidDataException($"{path}: tensor '{tensor.Name}' is mapped to {listed} by {IndexFile}");
                }
                var names = reader.Tensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
                if (map.FirstOrDefault(entry => entry.Value == shard && !names.Contains(entry.Key)) is { Key: not null } absent)
                    throw new InvalidDataException($"{indexPath}: weight_map puts tensor '{absent.Key}' in {shard}, which does not hold it");
            }
            return new SafetensorsShards([.. readers], indexPath);
        }
        catch
        {
            foreach (var reader in readers)
                reader.Dispose();
            throw;
        }
    }

    /// <summary>The index's weight_map: tensor name → shard file name. A name appears once (JSON keys are checked for repeats).</summary>
    internal static Dictionary<string, string> ReadIndex(string indexPath) =>
        JsonFields.Parse(JsonFields.ReadFile(indexPath), indexPath, fields =>
        {
            fields.Object("metadata");
            var weights = fields.Object("weight_map") ?? throw fields.Error("weight_map", "is required");
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (string name in weights.Names)
            {
                string file = weights.String(name) ?? throw weights.Error(name, "must name a shard file");
                if (file != Path.GetFileName(file) || file.Contains('\\') || !file.EndsWith(".safetensors", StringComparison.Ordinal) || file.StartsWith('.'))
                    throw weights.Error(name, "must be the name of a .safetensors file in the same folder");
                map.Add(name, file);
            }
            if (map.Count == 0)
                throw fields.Error("weight_map", "lists no tensors");
            return map;
        });

    public bool TryGetInfo(string name, out TensorInfo info)
    {
        info = null!;
        return _byName.TryGetValue(name, out var reader) && reader.TryGetInfo(name, out info);
    }

    /// <summary>Reads one tensor, widened to float32, into <paramref name="destination"/>.</summary>
    public void ReadFloat32(string name, Span<float> destination)
    {
        if (!_byName.TryGetValue(name, out var reader))
            throw new KeyNotFoundException($"{Source}: no tensor '{name}'");
        reader.ReadFloat32(name, destination);
    }

    public void Dispose()
    {
        foreach (var reader in _readers)
            reader.Dispose();
    }
}
