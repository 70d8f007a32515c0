using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace Terse.Extensions.AI.Tests;

/// <summary>The README's Microsoft.Extensions.AI example is the region below, character for character, so it compiles and runs.</summary>
public class ReadmeExampleTests
{
    private const string Begin = "// README: begin", End = "// README: end";

    [Fact]
    public async Task The_readme_example_runs()
    {
        string earlierTurn = string.Concat(Enumerable.Repeat("the dog ran to the park and found a stick. ", 60));
        // README: begin
        IChatClient client = new ChatClientBuilder(new TerseLocalChatClient("stories260K"))   // or any IChatClient
            .UseTerse(new TerseChatOptions { MaxInputTokens = 120, Tokenizer = "stories260K" })
            .Build();
        ChatResponse response = await client.GetResponseAsync(
        [
            new(ChatRole.System, "You tell short stories."),
            new(ChatRole.User, earlierTurn),   // pruned to fit: the least surprising words go first
            new(ChatRole.User, "Once upon a time, <terse:keep>Lily the brave</terse:keep> found a red ball."),
        ], new ChatOptions { MaxOutputTokens = 32 });
        var report = (TerseReport)response.AdditionalProperties![TerseReport.PropertyName]!;
        Console.WriteLine($"{report.TokensBefore} → {report.TokensAfter} tokens: {response.Text}");
        // README: end
        Assert.True(report.TokensAfter <= 120 && report.TokensBefore > 120);
        Assert.Equal("prune", report.Messages[1].Method);
        Assert.False(string.IsNullOrWhiteSpace(response.Text));
    }

    [Fact]
    public void The_readme_shows_exactly_the_example()
    {
        string path = ThisFile();
        string source = File.ReadAllText(path);
        string readme = File.ReadAllText(Path.Combine(Path.GetDirectoryName(path)!, "..", "..", "README.md"));
        int from = source.IndexOf(Begin + "\n", StringComparison.Ordinal) + Begin.Length + 1;
        var lines = source[from..source.IndexOf("        " + End, from, StringComparison.Ordinal)].Split('\n').SkipLast(1);
        string example = string.Join("\n", lines.Select(l => l.Length >= 8 ? l[8..] : l.TrimStart()));
        Assert.Contains("```csharp\nusing Microsoft.Extensions.AI;\nusing Terse.Extensions.AI;\n\n" + example + "\n```", readme);
    }

    private static string ThisFile([CallerFilePath] string path = "") => path;
}
