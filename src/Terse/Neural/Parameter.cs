using Terse.Neural.Numerics;

namespace Terse.Neural;

/// <summary>
/// One named weight tensor: a flat float32 buffer plus its shape (row-major, PyTorch's
/// [out_features, in_features] for linear layers). Names follow Hugging Face Llama checkpoints
/// (<c>model.layers.0.self_attn.q_proj.weight</c>), so optimizers, freezing, LoRA targets and
/// checkpoint mapping all speak the same names.
/// </summary>
public sealed class Parameter
{
    internal Parameter(string name, int[] shape)
    {
        Name = name;
        Shape = shape;
        Value = new FloatBuffer(checked(shape.Aggregate(1, (product, size) => product * size)));
    }

    public string Name { get; }

    public IReadOnlyList<int> Shape { get; private set; }

    public FloatBuffer Value { get; private set; }

    /// <summary>Excluded from training: no gradient is kept and optimizers leave it alone.</summary>
    public bool Frozen { get; set; }

    /// <summary>
    /// Leading rows (of the first dimension) that optimizers leave unchanged even when the parameter
    /// trains: the original vocabulary after <see cref="LlamaModel.AddVocabularyRows"/>.
    /// </summary>
    public int FrozenRows
    {
        get => _frozenRows;
        set => _frozenRows = value >= 0 && value <= Shape[0] ? value : throw new ArgumentOutOfRangeException(nameof(value), value, $"must be in 0..{Shape[0]}");
    }

    private int _frozenRows;

    public int Length => Value.Length;

    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]";

    /// <summary>Replaces the storage (growing a vocabulary); the old values are copied by the caller.</summary>
    internal void Resize(int[] shape, FloatBuffer value)
    {
        Shape = shape;
        Value = value;
    }
}

/// <summary>The parameters of a model in a fixed order, addressable by name.</summary>
public sealed class ParameterSet : IReadOnlyList<Parameter>
{
    private readonly List<Parameter> _ordered = [];
    private readonly Dictionary<string, Parameter> _byName = new(StringComparer.Ordinal);

    public int Count => _ordered.Count;

    public Parameter this[int index] => _ordered[index];

    public Parameter this[string name] => _byName.TryGetValue(name, out var parameter)
        ? parameter
        : throw new KeyNotFoundException($"no parameter named '{name}'");

    public bool TryGet(string name, out Parameter parameter) => _byName.TryGetValue(name, out parameter!);

    /// <summary>Total number of scalars.</summary>
    public long ElementCount => _ordered.Sum(p => (long)p.Length);

    public IEnumerator<Parameter> GetEnumerator() => _ordered.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    internal Parameter Add(string name, params int[] shape)
    {
        var parameter = new Parameter(name, shape);
        if (!_byName.TryAdd(name, parameter))
            throw new InvalidOperationException($"duplicate parameter name '{name}'");
        _ordered.Add(parameter);
        return parameter;
    }
}
