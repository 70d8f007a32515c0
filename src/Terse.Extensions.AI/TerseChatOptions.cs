using Microsoft.Extensions.AI;

namespace Terse.Extensions.AI;

/// <summary>What the fitting may do to a message of a role.</summary>
public enum MessagePolicy
{
    /// <summary>Sent as it is; if the kept messages alone exceed the budget the request fails.</summary>
    Keep,

    /// <summary>Compressed when the budget needs it, oldest first.</summary>
    Compress,

    /// <summary>Compressed before any <see cref="Compress"/> message (tool output, by default).</summary>
    CompressFirst,
}

/// <summary>How the lossy step shortens a message once lossless meta-tokens are not enough.</summary>
public enum LossyMethod
{
    /// <summary>Drops the least surprising words under <see cref="TerseChatOptions.PruningModel"/> (Selective-Context style).</summary>
    Prune,

    /// <summary>Keeps the start of the message, dropping words from the end.</summary>
    Truncate,
}

/// <summary>Settings of <see cref="TerseChatClient"/>; see docs/extensions-ai.md.</summary>
public sealed record TerseChatOptions
{
    /// <summary>Most tokens the messages' text may take, counted with <see cref="Tokenizer"/>.</summary>
    public required int MaxInputTokens { get; init; }

    /// <summary>The target model's tokenizer: a built-in name (<c>cl100k_base</c>, <c>o200k_base</c>, …) or a tokenizer file.</summary>
    public string Tokenizer { get; init; } = "cl100k_base";

    /// <summary>
    /// The target model has been told (or taught) to read <see cref="MetaTokenText"/>: the lossless
    /// step runs first. Off by default, since a model that does not know the form misreads it.
    /// </summary>
    public bool ModelReadsMetaTokens { get; init; }

    public LossyMethod Lossy { get; init; } = LossyMethod.Prune;

    /// <summary>The model that scores words for <see cref="LossyMethod.Prune"/>: a built-in name or a model file.</summary>
    public string PruningModel { get; init; } = "terse1M";

    /// <summary>Never drop a word that holds a digit or a capital letter (numbers, names, identifiers).</summary>
    public bool ProtectNumbersAndNames { get; init; } = true;

    /// <summary>The last user message is the question: kept whatever its role's policy.</summary>
    public bool KeepLastUserMessage { get; init; } = true;

    /// <summary>Policy per role; a role not listed is <see cref="MessagePolicy.Compress"/>.</summary>
    public IReadOnlyDictionary<ChatRole, MessagePolicy> Roles { get; init; } = new Dictionary<ChatRole, MessagePolicy>
    {
        [ChatRole.System] = MessagePolicy.Keep,
        [ChatRole.Tool] = MessagePolicy.CompressFirst,
    };
}

/// <summary>What the fitting did to one message.</summary>
/// <param name="Method"><c>kept</c> (policy), <c>unchanged</c> (not needed), <c>metatokens</c>, <c>prune</c>, <c>truncate</c>, or a lossy method followed by <c>+metatokens</c>.</param>
public sealed record TerseMessageReport(int Index, string Role, int TokensBefore, int TokensAfter, string Method);

/// <summary>What <see cref="TerseChatClient"/> did to a request; in <c>AdditionalProperties["terse"]</c> of the response.</summary>
public sealed record TerseReport(string Tokenizer, int Budget, int TokensBefore, int TokensAfter, IReadOnlyList<TerseMessageReport> Messages)
{
    /// <summary>The key of the report in the response's (and the first streamed update's) additional properties.</summary>
    public const string PropertyName = "terse";
}

/// <summary>The messages cannot be fitted to the budget without dropping what must be kept.</summary>
public sealed class TerseBudgetException(string message) : InvalidOperationException(message);
