using System.Reflection;
using System.Text;

namespace Terse.MetaTokens;

/// <summary>The bundled sample document that <c>terse demo</c> compresses (prose, JSON, logs, code and a table).</summary>
public static class SampleDocument
{
    private const string ResourceName = "Terse.Assets.metatokens_sample.txt";

    private static readonly Lazy<string> text = new(() =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing from the Terse assembly");
        using var reader = new StreamReader(stream, new UTF8Encoding(false, true));
        return reader.ReadToEnd();
    });

    public static string Name => "metatokens_sample.txt";

    public static string Text => text.Value;
}
