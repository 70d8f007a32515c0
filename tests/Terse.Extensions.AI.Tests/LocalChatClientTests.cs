using Microsoft.Extensions.AI;

namespace Terse.Extensions.AI.Tests;

public class LocalChatClientTests
{
    [Fact]
    public async Task The_local_model_answers_offline_through_the_middleware()
    {
        using var local = new TerseLocalChatClient("stories260K");
        using var client = new ChatClientBuilder(local)
            .UseTerse(new TerseChatOptions { MaxInputTokens = 40, Tokenizer = local.TokenizerName, Lossy = LossyMethod.Truncate })
            .Build();
        var messages = new List<ChatMessage>
        {
            new(ChatRole.User, string.Concat(Enumerable.Repeat("the little dog ran to the park and played with a red ball. ", 60))),
            new(ChatRole.User, "Once upon a time, there was a girl named Lily."),
        };

        var response = await client.GetResponseAsync(messages, new ChatOptions { MaxOutputTokens = 24 });

        Assert.False(string.IsNullOrWhiteSpace(response.Text));
        var report = Assert.IsType<TerseReport>(response.AdditionalProperties![TerseReport.PropertyName]);
        Assert.True(report.TokensAfter <= 40);
        Assert.Equal(24, response.Usage!.OutputTokenCount);
        Assert.Equal("stories260K", local.GetService<ChatClientMetadata>()!.DefaultModelId);
    }

    [Fact]
    public async Task Streaming_gives_the_same_greedy_text()
    {
        using var local = new TerseLocalChatClient("stories260K");
        var message = new ChatMessage(ChatRole.User, "Once upon a time");
        var options = new ChatOptions { MaxOutputTokens = 16 };
        var whole = await local.GetResponseAsync([message], options);
        var pieces = new List<string>();
        await foreach (var update in local.GetStreamingResponseAsync([message], options))
            pieces.Add(update.Text);
        Assert.True(pieces.Count(p => p.Length > 0) > 1);
        Assert.Equal(whole.Text, string.Concat(pieces));
    }

    [Fact]
    public async Task A_prompt_longer_than_the_model_fails_clearly()
    {
        using var local = new TerseLocalChatClient("stories260K");
        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            local.GetResponseAsync([new ChatMessage(ChatRole.User, string.Concat(Enumerable.Repeat("The dog ran. ", 200)))]));
        Assert.Contains("UseTerse", error.Message);
    }
}
