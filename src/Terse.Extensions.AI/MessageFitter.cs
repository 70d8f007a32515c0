using Microsoft.Extensions.AI;
using Terse.Models;
using Terse.Neural;
using Terse.Tokenization;

namespace Terse.Extensions.AI;

/// <summary>
/// Fits a conversation to a token budget: keep-markers are resolved in every message; if the text
/// is over budget, compressible messages (by policy order, oldest first) go through lossless
/// meta-tokens (when the model reads them), then the lossy method, each only as far as needed.
/// </summary>
internal sealed class MessageFitter
{
    private readonly TerseChatOptions _options;
    private readonly Tokenizer _tokenizer;
    private readonly Lazy<(LlamaModel Model, Tokenizer Tokenizer)> _pruner;

    public MessageFitter(TerseChatOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxInputTokens, nameof(options.MaxInputTokens));
        _options = options;
        _tokenizer = ModelResolver.LoadTokenizer(options.Tokenizer, options.Tokenizer);
        // Loaded on the first request that needs pruning: most requests fit without it.
        _pruner = new(() => ModelResolver.LoadWithTokenizer(options.PruningModel, null));
    }

    public Tokenizer Tokenizer => _tokenizer;

    /// <summary>One compressible piece of text: a text content or a string tool result.</summary>
    private sealed class Part(int message, int content, string raw, MessagePolicy policy, Tokenizer tokenizer)
    {
        public int Message { get; } = message;
        public int Content { get; } = content;
        public MessagePolicy Policy { get; } = policy;

        /// <summary>As the caller wrote it, keep-markers included.</summary>
        public string Raw { get; } = raw;

        /// <summary>Keep-markers removed: what the inner client gets when nothing else is done.</summary>
        public string Original { get; } = TextUnits.Join(TextUnits.Split(raw, protectNumbersAndNames: false));
        public int TokensBefore => _before ??= tokenizer.CountTokens(Original);
        private int? _before;
        public string Text { get; set; } = "";
        public int Tokens { get; set; }
        public string? Method { get; set; }
    }

    public (List<ChatMessage> Messages, TerseReport Report) Fit(IEnumerable<ChatMessage> messages)
    {
        var input = messages.ToList();
        int lastUser = input.FindLastIndex(m => m.Role == ChatRole.User);
        var parts = new List<Part>();
        for (int m = 0; m < input.Count; m++)
        {
            var policy = _options.KeepLastUserMessage && m == lastUser ? MessagePolicy.Keep
                : _options.Roles.GetValueOrDefault(input[m].Role, MessagePolicy.Compress);
            for (int c = 0; c < input[m].Contents.Count; c++)
                if (TextOf(input[m].Contents[c]) is { } raw)
                {
                    var part = new Part(m, c, raw, policy, _tokenizer);
                    (part.Text, part.Tokens) = (part.Original, part.TokensBefore);
                    parts.Add(part);
                }
        }
        int budget = _options.MaxInputTokens, total = parts.Sum(p => p.Tokens);
        if (total > budget)
        {
            int kept = parts.Where(p => p.Policy == MessagePolicy.Keep).Sum(p => p.Tokens);
            if (kept > budget)
                throw new TerseBudgetException($"the messages that must be kept (system and the last user message by default) take {kept} tokens ({_tokenizer.Name}), above the budget of {budget}");
            var order = parts.Where(p => p.Policy != MessagePolicy.Keep)
                .OrderBy(p => p.Policy == MessagePolicy.CompressFirst ? 0 : 1).ThenBy(p => p.Message).ToList();
            if (_options.ModelReadsMetaTokens)
                foreach (var part in order.TakeWhile(_ => total > budget))
                    total -= Apply(part, part.Original, "metatokens", metaTokens: true);
            foreach (var part in order.TakeWhile(_ => total > budget))
            {
                string shortened = Shorten(part, Math.Max(0, part.Tokens - (total - budget)));
                total -= Apply(part, shortened, _options.Lossy == LossyMethod.Prune ? "prune" : "truncate", _options.ModelReadsMetaTokens);
            }
            if (total > budget)
                throw new TerseBudgetException($"the messages take {total} tokens ({_tokenizer.Name}) with every droppable word dropped, above the budget of {budget}: protected spans (code, numbers, names, {TextUnits.KeepOpen} spans) and kept messages need that much");
        }
        var output = new List<ChatMessage>(input);
        foreach (var group in parts.GroupBy(p => p.Message))
        {
            var message = input[group.Key].Clone();
            message.Contents = [.. message.Contents];
            foreach (var part in group)
                message.Contents[part.Content] = WithText(message.Contents[part.Content], part.Text);
            output[group.Key] = message;
        }
        var report = new TerseReport(_tokenizer.Name, budget, parts.Sum(p => p.TokensBefore), total,
            [.. parts.GroupBy(p => p.Message).Select(g => new TerseMessageReport(g.Key, input[g.Key].Role.Value,
                g.Sum(p => p.TokensBefore), g.Sum(p => p.Tokens),
                g.First().Policy == MessagePolicy.Keep ? "kept" : string.Join(",", g.Select(p => p.Method ?? "unchanged").Distinct())))]);
        return (output, report);
    }

    /// <summary>Replaces the part's text when <paramref name="text"/> (or its meta-token form) is shorter; returns the tokens saved.</summary>
    private int Apply(Part part, string text, string method, bool metaTokens)
    {
        int tokens = _tokenizer.CountTokens(text);
        if (metaTokens && MetaTokenText.TryCompress(text, _tokenizer, out var compressed))
        {
            int compressedTokens = _tokenizer.CountTokens(compressed);
            if (compressedTokens < tokens)
            {
                (text, tokens) = (compressed, compressedTokens);
                method = method == "metatokens" ? method : method + "+metatokens";
            }
        }
        if (tokens >= part.Tokens)
            return 0;
        int saved = part.Tokens - tokens;
        (part.Text, part.Tokens, part.Method) = (text, tokens, method);
        return saved;
    }

    /// <summary>
    /// The part's text with the fewest droppable words removed (in the method's order) that brings
    /// it to <paramref name="target"/> tokens, or with all of them removed when none does.
    /// Removing more words never adds tokens in practice, so the count is searched by bisection.
    /// </summary>
    private string Shorten(Part part, int target)
    {
        var units = TextUnits.Split(part.Raw, _options.ProtectNumbersAndNames);
        var droppable = Enumerable.Range(0, units.Count).Where(i => units[i].Droppable).ToList();
        var dropOrder = _options.Lossy == LossyMethod.Truncate ? Enumerable.Reverse(droppable).ToList()
            : droppable.OrderBy(SurprisalScores(units).GetValueOrDefault).ThenBy(i => i).ToList();
        string WithoutFirst(int k) => TextUnits.Join(units, dropOrder.Take(k).ToHashSet());
        int low = 0, high = dropOrder.Count;
        while (low < high)
        {
            int middle = (low + high) / 2;
            if (_tokenizer.CountTokens(WithoutFirst(middle)) <= target)
                high = middle;
            else
                low = middle + 1;
        }
        return WithoutFirst(low);
    }

    /// <summary>Mean surprisal (bits per token) of each droppable unit under the pruning model, read in order from BOS.</summary>
    private Dictionary<int, double> SurprisalScores(List<TextUnit> units)
    {
        var (model, tokenizer) = _pruner.Value;
        int bos = tokenizer.BosId ?? throw new InvalidOperationException($"the pruning model's tokenizer '{tokenizer.Name}' has no beginning-of-sequence token");
        // Units are encoded one by one so each token belongs to exactly one unit.
        var owner = new List<int>();
        var ids = new List<int>();
        for (int u = 0; u < units.Count; u++)
            foreach (int id in tokenizer.Encode(units[u].Text))
            {
                ids.Add(id);
                owner.Add(u);
            }
        int vocabulary = model.Config.VocabSize, window = model.Config.MaxSequenceLength - 1;
        var bits = new double[units.Count];
        var counts = new int[units.Count];
        var session = model.CreateSession(window + 1);
        var logits = new float[(window + 1) * vocabulary];
        // Longer messages are read in windows of the model's length, each from BOS.
        for (int start = 0; start < ids.Count; start += window)
        {
            int length = Math.Min(window, ids.Count - start);
            session.Reset();
            session.Prefill([bos, .. ids.GetRange(start, length)], logits.AsSpan(0, (length + 1) * vocabulary));
            for (int i = 0; i < length; i++)
            {
                bits[owner[start + i]] += Sampler.SurprisalBits(logits.AsSpan(i * vocabulary, vocabulary), ids[start + i]);
                counts[owner[start + i]]++;
            }
        }
        return Enumerable.Range(0, units.Count).Where(u => units[u].Droppable && counts[u] > 0).ToDictionary(u => u, u => bits[u] / counts[u]);
    }

    private static string? TextOf(AIContent content) => content switch
    {
        TextContent text => text.Text,
        FunctionResultContent { Result: string result } => result,
        _ => null,
    };

    private static AIContent WithText(AIContent content, string text) => content switch
    {
        TextContent text0 => new TextContent(text) { AdditionalProperties = text0.AdditionalProperties, RawRepresentation = text0.RawRepresentation },
        FunctionResultContent result => new FunctionResultContent(result.CallId, text) { AdditionalProperties = result.AdditionalProperties },
        _ => content,
    };
}
