using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Terse.Tokenization;

namespace Terse.Extensions.AI.Tests;

/// <summary>An inner client that records what it was sent and answers "ok".</summary>
internal sealed class RecordingChatClient : IChatClient
{
    public List<ChatMessage>? Received { get; private set; }

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        Received = [.. messages];
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Received = [.. messages];
        await Task.Yield();
        yield return new ChatResponseUpdate(ChatRole.Assistant, "o");
        yield return new ChatResponseUpdate(ChatRole.Assistant, "k");
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }
}

public class TerseChatClientTests
{
    private static readonly Tokenizer Cl100k = TokenizerRegistry.Load("cl100k_base");

    private const string Filler = "the weather was rather mild and the people in the town went about their usual business without much fuss or hurry ";

    /// <summary>Tokens of every text the middleware may compress: text contents and string tool results.</summary>
    private static int Count(IEnumerable<ChatMessage> messages) =>
        messages.SelectMany(m => m.Contents).Sum(c => Cl100k.CountTokens(c switch { TextContent t => t.Text, FunctionResultContent { Result: string r } => r, _ => "" }));

    /// <summary>A conversation over budget: a system prompt, an old exchange with a long tool result, and the question.</summary>
    private static List<ChatMessage> Conversation() =>
    [
        new(ChatRole.System, "You are a careful assistant."),
        new(ChatRole.User, "Tell me about the town. " + string.Concat(Enumerable.Repeat(Filler, 6))),
        new(ChatRole.Assistant, "It is quiet. " + string.Concat(Enumerable.Repeat(Filler, 4))),
        new(ChatRole.Tool, [new FunctionResultContent("call1", "log: " + string.Concat(Enumerable.Repeat(Filler, 8)) + " status 503 at 12:04 <terse:keep>keep this exact phrase</terse:keep> " + Filler)]),
        new(ChatRole.User, "What status did the server return?"),
    ];

    [Theory]
    [InlineData(LossyMethod.Truncate, 120)]
    [InlineData(LossyMethod.Prune, 120)]
    [InlineData(LossyMethod.Prune, 200)]
    public async Task Budget_is_respected_and_kept_messages_are_intact(LossyMethod lossy, int budget)
    {
        var inner = new RecordingChatClient();
        using var client = new ChatClientBuilder(inner).UseTerse(new TerseChatOptions { MaxInputTokens = budget, Lossy = lossy }).Build();
        var conversation = Conversation();
        Assert.True(Count(conversation) > budget);

        var response = await client.GetResponseAsync(conversation);

        var sent = inner.Received!;
        Assert.True(Count(sent) <= budget, $"{Count(sent)} tokens sent, budget {budget}");
        Assert.Equal(conversation[0].Text, sent[0].Text);
        Assert.Equal(conversation[4].Text, sent[4].Text);
        string tool = (string)((FunctionResultContent)sent[3].Contents[0]).Result!;
        Assert.Contains("503", tool);
        Assert.Contains("12:04", tool);
        Assert.Contains("keep this exact phrase", tool);
        Assert.DoesNotContain("terse:keep", tool);
        Assert.Contains("<terse:keep>", (string)((FunctionResultContent)conversation[3].Contents[0]).Result!);   // the caller's messages are not changed
        var report = Assert.IsType<TerseReport>(response.AdditionalProperties![TerseReport.PropertyName]);
        Assert.Equal(Count(sent), report.TokensAfter);
        string toolBefore = (string)((FunctionResultContent)conversation[3].Contents[0]).Result!;
        int markersStripped = Cl100k.CountTokens(toolBefore) - Cl100k.CountTokens(toolBefore.Replace("<terse:keep>", "").Replace("</terse:keep>", ""));
        Assert.Equal(Count(conversation) - markersStripped, report.TokensBefore);
        Assert.Equal("kept", report.Messages[0].Method);
        Assert.Equal(lossy == LossyMethod.Prune ? "prune" : "truncate", report.Messages[3].Method);
        Assert.True(report.Messages[3].TokensAfter < report.Messages[3].TokensBefore);
        Assert.Equal(report.TokensAfter, response.Usage!.AdditionalCounts![TerseChatClient.TokensAfterCount]);
    }

    [Fact]
    public async Task Tool_output_is_compressed_before_older_messages()
    {
        var inner = new RecordingChatClient();
        var conversation = Conversation();
        using var client = new TerseChatClient(inner, new TerseChatOptions { MaxInputTokens = Count(conversation) - 40, Lossy = LossyMethod.Truncate });
        var (_, report) = client.Fit(conversation);
        Assert.Equal("unchanged", report.Messages[1].Method);
        Assert.Equal("truncate", report.Messages[3].Method);
    }

    [Fact]
    public void Code_blocks_and_numbers_survive_pruning()
    {
        const string code = "```csharp\nvar total = items.Sum(x => x.price * 1.07m);\n```";
        var conversation = new List<ChatMessage>
        {
            new(ChatRole.User, string.Concat(Enumerable.Repeat(Filler, 5)) + "\n" + code + "\nthe answer was 4271 and " + string.Concat(Enumerable.Repeat(Filler, 5))),
            new(ChatRole.User, "What was the answer?"),
        };
        using var client = new TerseChatClient(new RecordingChatClient(), new TerseChatOptions { MaxInputTokens = 60 });
        var (sent, report) = client.Fit(conversation);
        Assert.Contains(code, sent[0].Text);
        Assert.Contains("4271", sent[0].Text);
        Assert.True(report.TokensAfter <= 60);
    }

    [Fact]
    public async Task Streaming_applies_the_same_fitting_and_reports_on_the_first_update()
    {
        var inner = new RecordingChatClient();
        using var client = new TerseChatClient(inner, new TerseChatOptions { MaxInputTokens = 120, Lossy = LossyMethod.Truncate });
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(Conversation()))
            updates.Add(update);
        Assert.True(Count(inner.Received!) <= 120);
        Assert.IsType<TerseReport>(updates[0].AdditionalProperties![TerseReport.PropertyName]);
        Assert.Equal("ok", updates.ToChatResponse().Text);
        Assert.Equal(client.Fit(Conversation()).Messages.Select(m => m.Text), inner.Received!.Select(m => m.Text));
    }

    [Fact]
    public void Under_budget_nothing_changes_but_markers_go()
    {
        var conversation = new List<ChatMessage> { new(ChatRole.User, "short <terse:keep>question</terse:keep>?") };
        using var client = new TerseChatClient(new RecordingChatClient(), new TerseChatOptions { MaxInputTokens = 1000 });
        var (sent, report) = client.Fit(conversation);
        Assert.Equal("short question?", sent[0].Text);
        Assert.Equal(report.TokensBefore, report.TokensAfter);
    }

    [Fact]
    public void Kept_messages_over_budget_fail_clearly()
    {
        using var client = new TerseChatClient(new RecordingChatClient(), new TerseChatOptions { MaxInputTokens = 10 });
        var error = Assert.Throws<TerseBudgetException>(() => client.Fit(Conversation()));
        Assert.Contains("must be kept", error.Message);
        Assert.Contains("budget of 10", error.Message);
    }

    [Fact]
    public void Protected_spans_over_budget_fail_clearly()
    {
        var conversation = new List<ChatMessage>
        {
            new(ChatRole.User, "<terse:keep>" + string.Concat(Enumerable.Repeat(Filler, 3)) + "</terse:keep>"),
            new(ChatRole.User, "Why?"),
        };
        using var client = new TerseChatClient(new RecordingChatClient(), new TerseChatOptions { MaxInputTokens = 30, Lossy = LossyMethod.Truncate });
        var error = Assert.Throws<TerseBudgetException>(() => client.Fit(conversation));
        Assert.Contains("protected spans", error.Message);
    }

    [Fact]
    public void Unclosed_keep_marker_is_an_argument_error()
    {
        using var client = new TerseChatClient(new RecordingChatClient(), new TerseChatOptions { MaxInputTokens = 100 });
        var error = Assert.Throws<ArgumentException>(() => client.Fit([new(ChatRole.User, "a <terse:keep> b")]));
        Assert.Contains("never closed", error.Message);
    }

    [Fact]
    public void Meta_tokens_come_first_for_models_that_read_them_and_expand_exactly()
    {
        string log = string.Concat(Enumerable.Range(0, 30).Select(i => $"GET /api/v1/orders/items?page={i} HTTP/1.1 200 OK user-agent: curl/8.5.0 accept: application/json\n"));
        var conversation = new List<ChatMessage> { new(ChatRole.Tool, [new FunctionResultContent("c", log)]), new(ChatRole.User, "Which pages were fetched?") };
        using var client = new TerseChatClient(new RecordingChatClient(), new TerseChatOptions { MaxInputTokens = Count(conversation) / 2, ModelReadsMetaTokens = true });
        var (sent, report) = client.Fit(conversation);
        string compressed = (string)((FunctionResultContent)sent[0].Contents[0]).Result!;
        Assert.Equal("metatokens", report.Messages[0].Method);
        Assert.Equal(log, MetaTokenText.Expand(compressed));
        Assert.True(Count(sent) <= Count(conversation) / 2);
    }

    [Theory]
    // Two-token runs do not pay for a written reference (about three tokens): left as it is.
    [InlineData("abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc", false)]
    // Runs that start and end inside a character (ï, 東) still expand to the same text.
    [InlineData("naïve café — 東京 東京 東京 東京 naïve café — 東京 東京 東京 東京 naïve café — 東京 東京 東京 東京 naïve café — 東京 東京 東京 東京", true)]
    [InlineData("one line\none line\none line\none line\none line\none line\none line\none line\none line\none line\n", true)]
    public void Meta_token_text_round_trips_exactly(string text, bool compresses)
    {
        Assert.Equal(compresses, MetaTokenText.TryCompress(text, Cl100k, out var compressed));
        if (compresses)
        {
            Assert.True(Cl100k.CountTokens(compressed) < Cl100k.CountTokens(text));
            Assert.Equal(text, MetaTokenText.Expand(compressed));
        }
        else
        {
            Assert.Same(text, compressed);
        }
    }

    [Fact]
    public void Text_holding_the_marker_is_never_meta_token_compressed()
    {
        string text = string.Concat(Enumerable.Repeat("§1§ section ", 40));
        Assert.False(MetaTokenText.TryCompress(text, Cl100k, out var same));
        Assert.Same(text, same);
    }

    [Theory]
    [InlineData("no dictionary")]
    [InlineData("§2§abc§§x")]
    [InlineData("§1§abc§§x§3§")]
    [InlineData("§1§abc")]
    public void Malformed_meta_token_text_is_refused(string text) =>
        Assert.Throws<InvalidDataException>(() => MetaTokenText.Expand(text));
}
