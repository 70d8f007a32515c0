using System.Security.Cryptography;
using Terse.Tokenization.HuggingFace;
using Terse.Tokenization.PreTokenization;

namespace Terse.Tokenization.Tiktoken;

/// <summary>
/// Loads a <c>.tiktoken</c> rank file from disk. A rank file does not say which pre-tokenizer pattern
/// and special tokens go with it, so: a built-in's own rank file gets that built-in's; Llama 3's
/// (recognised by its SHA-256) gets Llama 3's pattern; any other needs the pre-tokenizer given
/// explicitly. Special tokens, BOS and EOS come from a sibling <c>tokenizer_config.json</c> if there is one.
/// </summary>
internal static class TiktokenFileLoader
{
    public static Tokenizer Load(string path, TokenizerLoadOptions options)
    {
        var content = File.ReadAllBytes(path);
        var name = Path.GetFileName(path);
        var tokensByRank = TiktokenRankFile.Parse(content, path);

        var sha256 = Convert.ToHexStringLower(SHA256.HashData(content));
        // p50k_base and p50k_edit share a rank file; the first match, the base encoding, is the natural reading.
        var builtIn = TiktokenEncodings.BuiltIn.FirstOrDefault(e => e.RankFileSha256 == sha256);
        if (builtIn is not null && options.PreTokenizer is null)
            return TiktokenEncodings.Create(name, tokensByRank, builtIn.SpecialTokens, builtIn.PreTokenizer, path,
                eosId: builtIn.SpecialTokens[0].Id);

        PreTokenizer preTokenizer;
        if (options.PreTokenizer is { } explicitName)
            preTokenizer = PreTokenizers.ByName(explicitName);
        else if (sha256 == TiktokenEncodings.Llama3RankFileSha256)
            preTokenizer = PreTokenizers.ByName("llama3");
        else
            throw new InvalidDataException(
                $"{path}: not a rank file Terse knows, so its pre-tokenizer pattern is unknown; give one ({PreTokenizers.KnownNames})");

        var config = TokenizerConfigFile.FindSibling(path);
        var specials = config?.AddedTokens ?? [];
        return TiktokenEncodings.Create(name, tokensByRank, specials, preTokenizer, path,
            bosId: config?.IdOf(config.BosText, "bos_token"), eosId: config?.IdOf(config.EosText, "eos_token"));
    }
}
