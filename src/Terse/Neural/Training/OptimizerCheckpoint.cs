using System.Globalization;
using Terse.Neural.Checkpoints;

namespace Terse.Neural.Training;

/// <summary>
/// What a trainer's checkpoint holds whatever it trains: each trained parameter with its two AdamW
/// moments (tensors <c>param.NAME</c>, <c>adam_m.NAME</c>, <c>adam_v.NAME</c>) and the metadata
/// <c>format</c>, <c>step</c>, <c>optimizer_steps</c> and <c>rng</c> (an <see cref="XorShift64"/>
/// state). A trainer adds its own metadata and checks it on loading; anything missing, misshapen or
/// malformed is an <see cref="InvalidDataException"/>. Written atomically (safetensors).
/// </summary>
internal static class OptimizerCheckpoint
{
    public static void Save(string path, string format, AdamW optimizer, Func<Parameter, string> nameOf, int step, ulong rng,
        IReadOnlyDictionary<string, string> extraMetadata)
    {
        var tensors = new List<NamedTensor>();
        foreach (var (parameter, m, v) in optimizer.Moments)
        {
            long[] shape = [.. parameter.Shape.Select(s => (long)s)];
            string name = nameOf(parameter);
            tensors.Add(NamedTensor.FromFloat32("param." + name, shape, parameter.Value.Span));
            tensors.Add(NamedTensor.FromFloat32("adam_m." + name, shape, m.Span));
            tensors.Add(NamedTensor.FromFloat32("adam_v." + name, shape, v.Span));
        }
        var metadata = new Dictionary<string, string>
        {
            ["format"] = format,
            ["step"] = step.ToString(CultureInfo.InvariantCulture),
            ["optimizer_steps"] = optimizer.StepCount.ToString(CultureInfo.InvariantCulture),
            ["rng"] = rng.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (key, value) in extraMetadata)
            metadata.Add(key, value);
        Safetensors.Write(path, tensors, metadata);
    }

    /// <summary>
    /// Restores the parameters, the moments and the optimizer's step count from <paramref name="path"/>
    /// after <paramref name="check"/> has seen the metadata (it gets a field reader that refuses a
    /// missing key); returns the trainer's step and sampler state.
    /// </summary>
    public static (int Step, ulong Rng) Load(string path, string format, AdamW optimizer, Func<Parameter, string> nameOf, Action<Func<string, string>> check)
    {
        using var reader = Safetensors.Open(path);
        var meta = reader.Metadata;
        string Field(string key) => meta.TryGetValue(key, out var value) ? value : throw new InvalidDataException($"{path}: checkpoint metadata lacks '{key}'");
        if (Field("format") != format)
            throw new InvalidDataException($"{path}: not a {format} file");
        check(Field);
        var moments = optimizer.Moments.ToArray();
        if (reader.Tensors.Count != 3 * moments.Length)
            throw new InvalidDataException($"{path}: holds {reader.Tensors.Count} tensors, this trainer needs {3 * moments.Length}");
        foreach (var (parameter, m, v) in moments)
        {
            foreach (var (prefix, target) in new[] { ("param.", parameter.Value), ("adam_m.", m), ("adam_v.", v) })
            {
                string name = prefix + nameOf(parameter);
                if (!reader.TryGetInfo(name, out var info))
                    throw new InvalidDataException($"{path}: missing tensor '{name}'");
                if (!info.Shape.SequenceEqual(parameter.Shape.Select(s => (long)s)))
                    throw new InvalidDataException($"{path}: '{name}' has shape [{string.Join(", ", info.Shape)}], expected [{string.Join(", ", parameter.Shape)}]");
                reader.ReadFloat32(name, target.Span);
            }
        }
        int step = ParseField<int>(Field("step"), path);
        optimizer.StepCount = ParseField<long>(Field("optimizer_steps"), path);
        ulong rng = ParseField<ulong>(Field("rng"), path);
        if (rng == 0)
            throw new InvalidDataException($"{path}: sampler state 0 is invalid");
        return (step, rng);
    }

    private static T ParseField<T>(string text, string path) where T : IParsable<T> =>
        T.TryParse(text, CultureInfo.InvariantCulture, out var value) ? value : throw new InvalidDataException($"{path}: bad number '{text}' in checkpoint metadata");
}

/// <summary>xorshift64: a generator whose whole state is one number, so checkpoints capture it.</summary>
internal static class XorShift64
{
    public static ulong Next(ref ulong state)
    {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    }
}
