using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.AI;
using Terse.Models;
using Terse.Neural;
using Terse.Tokenization;

namespace Terse.Extensions.AI;

/// <summary>
/// Terse's CPU engine as an <see cref="IChatClient"/>, so a pipeline runs with no network: the text
/// of the messages, one per line, is the prompt of a built-in model (<c>stories260K</c>,
/// <c>terse1M</c>) or a model file, continued with llama2.c's sampling rules. These are tiny
/// models: they continue text plausibly, they do not follow instructions or answer questions.
/// <see cref="ChatOptions.MaxOutputTokens"/> (default 64), <see cref="ChatOptions.Temperature"/>
/// (default 0, greedy), <see cref="ChatOptions.TopP"/> and <see cref="ChatOptions.Seed"/> are honoured.
/// </summary>
public sealed class TerseLocalChatClient : IChatClient
{
    private readonly LlamaModel _model;
    private readonly Tokenizer _tokenizer;
    private readonly ChatClientMetadata _metadata;

    /// <param name="model">A built-in model name or a model file or folder (see <see cref="ModelResolver"/>).</param>
    /// <param name="tokenizer">Its tokenizer when the model has none of its own.</param>
    public TerseLocalChatClient(string model = "stories260K", string? tokenizer = null)
    {
        (_model, _tokenizer) = ModelResolver.LoadWithTokenizer(model, tokenizer);
        _metadata = new ChatClientMetadata("terse", defaultModelId: ModelResolver.FindBuiltIn(model)?.Name ?? Path.GetFileName(model));
    }

    /// <summary>The model's tokenizer: the one to give <see cref="TerseChatOptions.Tokenizer"/> when fitting prompts for it.</summary>
    public string TokenizerName => _tokenizer.Name;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
            updates.Add(update);
        return updates.ToChatResponse();
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        string prompt = string.Join("\n", messages.Select(m => m.Text).Where(t => t.Length > 0));
        int promptTokens = _tokenizer.Encode(prompt, new EncodeOptions(AddBos: true)).Length;
        int length = _model.Config.MaxSequenceLength, maxOutput = options?.MaxOutputTokens ?? 64;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxOutput, nameof(ChatOptions.MaxOutputTokens));
        if (promptTokens >= length)
            throw new ArgumentException($"the prompt takes {promptTokens} tokens ({_tokenizer.Name}) and {_metadata.DefaultModelId} reads at most {length - 1}; shorten it, e.g. with UseTerse(MaxInputTokens = {length - 1 - maxOutput})", nameof(messages));
        var sampler = new Sampler(options?.Temperature ?? 0, options?.TopP ?? 0.9f, options?.Seed is long seed and not 0 ? (ulong)seed : 1);
        // run.c's steps count positions, and the token chosen at the last one is printed too.
        int steps = Math.Min(length, promptTokens + maxOutput - 1);
        string id = Guid.NewGuid().ToString("N");

        // The engine is synchronous; it runs on the pool and hands each printed piece over, so the
        // caller sees tokens as they come and can stop the run.
        var channel = Channel.CreateUnbounded<string>();
        var utf8 = Encoding.UTF8.GetDecoder();
        int printed = 0;
        var generation = Task.Run(() =>
        {
            try
            {
                var result = TextGeneration.Generate(_model, _tokenizer, prompt, steps, sampler, bytes =>
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    // The prompt is printed too (run.c's rule); only what follows it is the reply.
                    if (printed++ < promptTokens - 1)
                        return;
                    var chars = new char[utf8.GetCharCount(bytes, flush: false)];
                    utf8.GetChars(bytes, chars, flush: false);
                    if (chars.Length > 0)
                        channel.Writer.TryWrite(new string(chars));
                });
                channel.Writer.TryComplete();
                return result;
            }
            catch (Exception e)
            {
                channel.Writer.TryComplete(e);
                throw;
            }
        }, cancellationToken);

        await foreach (var piece in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            yield return new ChatResponseUpdate(ChatRole.Assistant, piece) { ResponseId = id, ModelId = _metadata.DefaultModelId };
        var done = await generation.ConfigureAwait(false);
        int outputTokens = done.Tokens.Count - done.PromptTokens;
        yield return new ChatResponseUpdate
        {
            Role = ChatRole.Assistant,
            ResponseId = id,
            ModelId = _metadata.DefaultModelId,
            FinishReason = done.StoppedAtBos ? ChatFinishReason.Stop : ChatFinishReason.Length,
            Contents = [new UsageContent(new UsageDetails { InputTokenCount = done.PromptTokens, OutputTokenCount = outputTokens, TotalTokenCount = done.PromptTokens + outputTokens })],
        };
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? _metadata
        : serviceType.IsInstanceOfType(this) ? this
        : null;

    public void Dispose()
    {
    }
}
