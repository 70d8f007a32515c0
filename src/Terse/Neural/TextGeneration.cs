using System.Diagnostics;
using System.Text;
using Terse.Tokenization;
using Terse.Tokenization.Llama2c;
using Terse.Tokenization.SentencePiece;

namespace Terse.Neural;

/// <summary>What <see cref="TextGeneration.Generate"/> produced.</summary>
/// <param name="Tokens">Every token fed or chosen, starting with BOS and the prompt.</param>
/// <param name="PromptTokens">How many of <paramref name="Tokens"/> came from the prompt (BOS included).</param>
/// <param name="StoppedAtBos">Generation ended because the model chose BOS (else the step budget ran out, or it chose an EOS).</param>
/// <param name="Seconds">Wall time of the decoding loop.</param>
public sealed record GenerationResult(IReadOnlyList<int> Tokens, int PromptTokens, bool StoppedAtBos, double Seconds)
{
    /// <summary>Generation ended at one of the model's <see cref="LlamaModel.EosTokenIds"/>.</summary>
    public bool StoppedAtEos { get; init; }
}

/// <summary>
/// Text generation with the rules of llama2.c's <c>run.c</c>: the prompt is encoded with BOS in front;
/// <c>steps</c> counts positions including BOS and the prompt (0 or more than the model's length
/// means its length); prompt tokens are forced, then tokens are sampled; choosing BOS ends the text;
/// each token is printed as run.c prints it after the one before (see <see cref="PrintedBytes"/>).
/// Beyond run.c, an end-of-sequence id the model's files declare (<see cref="LlamaModel.EosTokenIds"/>,
/// from generation_config.json or config.json) also ends the text, and a tokenizer without BOS uses the
/// model's declared one.
/// </summary>
public static class TextGeneration
{
    public static GenerationResult Generate(LlamaModel model, Tokenizer tokenizer, string prompt, int steps, Sampler sampler,
        Action<ReadOnlySpan<byte>>? print = null, LoraAdapter? adapter = null)
    {
        int bos = tokenizer.BosId ?? model.BosTokenId ?? throw new ArgumentException($"tokenizer '{tokenizer.Name}' has no beginning-of-sequence token and the model declares none");
        if (tokenizer.VocabularySize != model.Config.VocabSize)
            throw new ArgumentException($"tokenizer '{tokenizer.Name}' has {tokenizer.VocabularySize} tokens but the model has {model.Config.VocabSize}");
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        int length = model.Config.MaxSequenceLength;
        if (steps == 0 || steps > length)
            steps = length;
        int[] promptTokens = tokenizer.BosId is null
            ? [bos, .. tokenizer.Encode(prompt, new EncodeOptions(AddBos: false))]
            : tokenizer.Encode(prompt, new EncodeOptions(AddBos: true));
        if (promptTokens.Length == 0 || promptTokens[0] != bos)
            throw new InvalidOperationException("the encoded prompt does not start with BOS");

        var session = model.CreateSession(steps, adapter);
        var tokens = new List<int> { promptTokens[0] };
        var clock = Stopwatch.StartNew();
        // run.c forwards position p and then forces prompt token p + 1 (printing it) while the prompt
        // lasts, all within the step budget. The forced forwards go in as one prefill, which is
        // bit-identical to stepping them one by one.
        var logits = session.Prefill(promptTokens.AsSpan(0, Math.Min(promptTokens.Length, steps)));
        int printedPrompt = Math.Min(promptTokens.Length - 1, steps);
        for (int i = 1; i <= printedPrompt; i++)
        {
            print?.Invoke(PrintedBytes(tokenizer, promptTokens[i - 1], promptTokens[i]));
            tokens.Add(promptTokens[i]);
        }
        bool stoppedAtBos = false, stoppedAtEos = false;
        if (promptTokens.Length <= steps)
            for (int position = promptTokens.Length; ; position++)
            {
                int next = sampler.Sample(logits);
                if (next == bos)
                {
                    stoppedAtBos = true;
                    break;
                }
                if (model.EosTokenIds.Contains(next))
                {
                    stoppedAtEos = true;
                    break;
                }
                print?.Invoke(PrintedBytes(tokenizer, tokens[^1], next));
                tokens.Add(next);
                if (position == steps)
                    break;
                logits = session.Step(next);
            }
        return new GenerationResult(tokens, printedPrompt + 1, stoppedAtBos, clock.Elapsed.TotalSeconds) { StoppedAtEos = stoppedAtEos };
    }

    /// <summary>
    /// The bytes run.c prints for <paramref name="token"/> after <paramref name="previous"/>: after BOS
    /// a leading space is dropped, a <c>&lt;0xXX&gt;</c> piece is that raw byte, and a lone byte that is
    /// neither printable nor whitespace prints nothing. SentencePiece models are printed as
    /// llama2.c's export would (▁ as a space, BOS/EOS as "\n&lt;s&gt;\n"/"\n&lt;/s&gt;\n"); other
    /// tokenizers print the token's decoded bytes.
    /// </summary>
    public static ReadOnlySpan<byte> PrintedBytes(Tokenizer tokenizer, int previous, int token)
    {
        switch (tokenizer)
        {
            case Llama2cTokenizer llama2c:
                return llama2c.GeneratedPieceBytes(previous, token);
            case SentencePieceTokenizer sentencePiece:
                string piece = token == sentencePiece.BosId ? "\n<s>\n"
                    : token == sentencePiece.EosId ? "\n</s>\n"
                    : sentencePiece.Piece(token).Replace('\u2581', ' ');
                if (previous == sentencePiece.BosId && piece.StartsWith(' '))
                    piece = piece[1..];
                if (sentencePiece.TypeOf(token) == PieceType.Byte && piece.Length == 6 && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte value))
                    return IsPrintableOrSpace(value) ? new[] { value } : [];
                var bytes = Encoding.UTF8.GetBytes(piece);
                return bytes.Length == 1 && !IsPrintableOrSpace(bytes[0]) ? [] : bytes;
            default:
                return tokenizer.DecodeToBytes([token]);
        }
    }

    private static bool IsPrintableOrSpace(byte b) => b is >= 0x20 and <= 0x7E or >= 0x09 and <= 0x0D;
}
