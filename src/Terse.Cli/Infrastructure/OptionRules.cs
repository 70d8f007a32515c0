using System.CommandLine;
using System.Globalization;

namespace Terse.Cli.Infrastructure;

/// <summary>
/// Checks of option values at parse time, so that a bad value gets one line naming the option
/// (<c>terse: error: --batch must be ≥ 1, got 0</c>) before any model or file is loaded, instead
/// of an exception from deep inside with an internal parameter name.
/// </summary>
internal static class OptionRules
{
    /// <summary>Adds the rule that a given value satisfies <paramref name="ok"/>; <paramref name="rule"/> completes "--name must be …".</summary>
    public static Option<T> Require<T>(this Option<T> option, Func<T, bool> ok, string rule)
    {
        option.Validators.Add(result =>
        {
            if (result.Implicit)
                return;
            var value = result.GetValueOrDefault<T>();
            if (!ok(value))
                result.AddError($"{option.Name} must be {rule}, got {Show(value)}");
        });
        return option;
    }

    public static Option<int> AtLeast(this Option<int> option, int min) => option.Require(v => v >= min, $"≥ {min}");

    public static Option<int?> AtLeast(this Option<int?> option, int min) => option.Require(v => v is null || v >= min, $"≥ {min}");

    public static Option<int> InRange(this Option<int> option, int min, int max) => option.Require(v => v >= min && v <= max, $"in {min}..{max}");

    public static Option<float> InRange(this Option<float> option, float min, float max) =>
        option.Require(v => v >= min && v <= max, $"in {Show(min)}..{Show(max)}");

    public static Option<float> Positive(this Option<float> option) => option.Require(v => v > 0 && float.IsFinite(v), "a positive number");

    public static Option<float> NonNegative(this Option<float> option) => option.Require(v => v >= 0 && float.IsFinite(v), "≥ 0");

    public static Option<ulong> NonZero(this Option<ulong> option) => option.Require(v => v != 0, "non-zero");

    /// <summary>An option that takes a size in bytes, with an optional K, M or G suffix (powers of 1024).</summary>
    public static Option<long?> Size(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result =>
        {
            string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            if (TryParseSize(text, out long bytes))
                return bytes;
            result.AddError($"{name} takes a size in bytes, e.g. 1000000, 512M or 2G (got '{text}')");
            return null;
        },
    };

    internal static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        int shift = text.Length == 0 ? 0 : char.ToUpperInvariant(text[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        var digits = shift == 0 ? text : text[..^1];
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long value) || value < 1 || value > long.MaxValue >> shift)
            return false;
        bytes = value << shift;
        return true;
    }

    private static string Show<T>(T value) => value switch
    {
        null => "nothing",
        float f => f.ToString(CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
