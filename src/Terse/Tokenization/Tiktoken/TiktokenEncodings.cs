using System.Collections.Concurrent;
using Terse.Tokenization.BytePair;
using Terse.Tokenization.PreTokenization;

namespace Terse.Tokenization.Tiktoken;

/// <summary>One tiktoken encoding: rank file, pattern and special tokens, as OpenAI's tiktoken defines it.</summary>
internal sealed record TiktokenEncoding(
    string Name,
    string[] Aliases,
    string Description,
    string RanksAsset,
    ScanningPreTokenizer PreTokenizer,
    SpecialToken[] SpecialTokens,
    int VocabularySize,
    string RankFileSha256);

/// <summary>
/// The encodings shipped inside the library (rank files embedded in compact form, loaded on first
/// use and kept), and the building of any tiktoken-style tokenizer from ranks.
/// </summary>
internal static class TiktokenEncodings
{
    private const string EndOfText = "<|endoftext|>";

    private static readonly SpecialToken[] P50kSpecials = [new(EndOfText, 50256)];

    public static IReadOnlyList<TiktokenEncoding> BuiltIn { get; } =
    [
        new("r50k_base", ["gpt2"], "GPT-2 and GPT-3 (davinci)", "r50k_base.ranks.br", Gpt2Scanner.Instance,
            [new(EndOfText, 50256)], 50257, "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"),
        new("p50k_base", [], "Codex, text-davinci-002/003", "p50k_base.ranks.br", Gpt2Scanner.Instance,
            P50kSpecials, 50281, "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069"),
        new("p50k_edit", [], "p50k_base with fill-in-the-middle tokens (edit models)", "p50k_base.ranks.br", Gpt2Scanner.Instance,
            [.. P50kSpecials, new("<|fim_prefix|>", 50281), new("<|fim_middle|>", 50282), new("<|fim_suffix|>", 50283)], 50284,
            "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069"),
        new("cl100k_base", [], "GPT-4, GPT-3.5-turbo, text-embedding-3", "cl100k_base.ranks.br", Cl100kScanner.Cl100k,
            [new(EndOfText, 100257), new("<|fim_prefix|>", 100258), new("<|fim_middle|>", 100259), new("<|fim_suffix|>", 100260), new("<|endofprompt|>", 100276)],
            100277, "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
        new("o200k_base", [], "GPT-4o, GPT-4.1, o1, o3", "o200k_base.ranks.br", O200kScanner.Instance,
            [new(EndOfText, 199999), new("<|endofprompt|>", 200018)], 200019,
            "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
    ];

    /// <summary>SHA-256 of Meta's Llama 3 <c>tokenizer.model</c> (a tiktoken rank file); not shipped (licence).</summary>
    internal const string Llama3RankFileSha256 = "82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55";

    private static readonly ConcurrentDictionary<string, Lazy<Tokenizer>> Loaded = new();
    private static readonly ConcurrentDictionary<string, Lazy<byte[]?[]>> Ranks = new();

    public static TiktokenEncoding? Find(string nameOrAlias) =>
        BuiltIn.FirstOrDefault(e => e.Name.Equals(nameOrAlias, StringComparison.OrdinalIgnoreCase)
            || e.Aliases.Any(a => a.Equals(nameOrAlias, StringComparison.OrdinalIgnoreCase)));

    /// <summary>The built-in tokenizer, loaded once per process.</summary>
    public static Tokenizer Get(TiktokenEncoding encoding) =>
        Loaded.GetOrAdd(encoding.Name, _ => new Lazy<Tokenizer>(() =>
            Create(encoding.Name, RanksOf(encoding), encoding.SpecialTokens, encoding.PreTokenizer, eosId: encoding.SpecialTokens[0].Id,
                source: encoding.RanksAsset))).Value;

    internal static byte[]?[] RanksOf(TiktokenEncoding encoding) =>
        Ranks.GetOrAdd(encoding.RanksAsset, asset => new Lazy<byte[]?[]>(() =>
        {
            using var stream = typeof(TiktokenEncodings).Assembly.GetManifestResourceStream(AssetResourceName(asset))
                ?? throw new InvalidOperationException($"the library was built without its embedded asset {asset}");
            return CompactRanks.Read(stream, asset);
        })).Value;

    internal static string AssetResourceName(string asset) => "Terse.Tokenization.Assets." + asset;

    /// <summary>A tiktoken-style tokenizer from token bytes by rank (= id).</summary>
    public static BytePairTokenizer Create(string name, byte[]?[] tokensByRank, IReadOnlyList<SpecialToken> specialTokens,
        PreTokenizer preTokenizer, string source, int? bosId = null, int? eosId = null)
    {
        var entries = new List<(byte[] Key, int Value)>(tokensByRank.Length);
        for (int rank = 0; rank < tokensByRank.Length; rank++)
            if (tokensByRank[rank] is { } token)
                entries.Add((token, rank));
        var map = ByteSequenceMap.TryBuild(entries, out var duplicate)
            ?? throw new InvalidDataException($"{source}: ranks {duplicate.First} and {duplicate.Second} are the same token");
        foreach (var special in specialTokens)
            if (special.Id < tokensByRank.Length && tokensByRank[special.Id] is not null)
                throw new InvalidDataException($"{source}: special token '{special.Text}' has id {special.Id}, which is also a rank of the file");
        var model = BytePairModel.FromRanks(tokensByRank, map, source);
        return new BytePairTokenizer(name, model, tokensByRank, specialTokens, preTokenizer, bosId, eosId, source: source);
    }
}
