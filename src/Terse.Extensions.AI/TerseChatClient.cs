using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace Terse.Extensions.AI;

/// <summary>
/// A chat-client middleware that fits the messages to <see cref="TerseChatOptions.MaxInputTokens"/>
/// of the target model's tokenizer before the inner client sees them, and reports what it did in
/// <c>AdditionalProperties["terse"]</c> (a <see cref="TerseReport"/>) and in the usage's additional
/// counts. Added with <see cref="TerseChatClientBuilderExtensions.UseTerse"/>.
/// </summary>
public sealed class TerseChatClient : DelegatingChatClient
{
    /// <summary>Keys of <see cref="UsageDetails.AdditionalCounts"/> set on the response.</summary>
    public const string TokensBeforeCount = "terse.input_tokens_before", TokensAfterCount = "terse.input_tokens_after";

    private readonly MessageFitter _fitter;

    /// <exception cref="ArgumentException">The tokenizer cannot be found or the budget is not positive.</exception>
    public TerseChatClient(IChatClient inner, TerseChatOptions options) : base(inner) => _fitter = new MessageFitter(options);

    /// <summary>The messages as the inner client will receive them, with the report; nothing is sent.</summary>
    /// <exception cref="TerseBudgetException">The kept messages or protected spans alone exceed the budget.</exception>
    public (IReadOnlyList<ChatMessage> Messages, TerseReport Report) Fit(IEnumerable<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        return _fitter.Fit(messages);
    }

    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (fitted, report) = Fit(messages);
        var response = await base.GetResponseAsync(fitted, options, cancellationToken).ConfigureAwait(false);
        (response.AdditionalProperties ??= [])[TerseReport.PropertyName] = report;
        var usage = response.Usage ??= new UsageDetails();
        (usage.AdditionalCounts ??= [])[TokensBeforeCount] = report.TokensBefore;
        usage.AdditionalCounts[TokensAfterCount] = report.TokensAfter;
        return response;
    }

    /// <summary>The same fitting; the report rides on the first update.</summary>
    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (fitted, report) = Fit(messages);
        bool first = true;
        await foreach (var update in base.GetStreamingResponseAsync(fitted, options, cancellationToken).ConfigureAwait(false))
        {
            if (first)
                (update.AdditionalProperties ??= [])[TerseReport.PropertyName] = report;
            first = false;
            yield return update;
        }
        if (first)
            yield return new ChatResponseUpdate { AdditionalProperties = new() { [TerseReport.PropertyName] = report } };
    }
}

public static class TerseChatClientBuilderExtensions
{
    /// <summary>Adds <see cref="TerseChatClient"/>: messages are fitted to the budget before the clients after it see them.</summary>
    public static ChatClientBuilder UseTerse(this ChatClientBuilder builder, TerseChatOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        return builder.Use(inner => new TerseChatClient(inner, options));
    }
}
