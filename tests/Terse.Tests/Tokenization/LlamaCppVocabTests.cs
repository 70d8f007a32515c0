using System.Text;
using Terse.Tokenization;
using Terse.Tokenization.SentencePiece;
using TestData = Terse.Tests.Infrastructure.TestData;

namespace Terse.Tests.Tokenization;

/// <summary>
/// llama.cpp's tokenizer test vectors (tests/test-tokenizer-0: inputs split on
/// "\n__ggml_vocab_test__\n" exactly, no trimming, a trailing separator ends the list; expected ids one
/// line per input; tokenized without BOS and without parsing special tokens).
/// </summary>
public class LlamaCppVocabTests
{
    public static IReadOnlyList<(string Input, int[] Expected)> Cases(string outFile)
    {
        var raw = Encoding.UTF8.GetString(File.ReadAllBytes(TestData.Path("tokenizers/ggml-vocab-tests.inp")));
        const string separator = "\n__ggml_vocab_test__\n";
        var inputs = new List<string>();
        for (int position = 0; position < raw.Length;)
        {
            int next = raw.IndexOf(separator, position, StringComparison.Ordinal);
            if (next < 0)
            {
                inputs.Add(raw[position..]);
                break;
            }
            inputs.Add(raw[position..next]);
            position = next + separator.Length;
        }
        var outputs = File.ReadAllLines(TestData.Path("tokenizers/" + outFile));
        Assert.Equal(inputs.Count, outputs.Length);
        return inputs.Zip(outputs, (input, line) => (input, line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray())).ToList();
    }

    internal static void AssertAllCasesMatch(Tokenizer tokenizer, string outFile)
    {
        var cases = Cases(outFile);
        Assert.Equal(46, cases.Count);
        var failures = new List<string>();
        foreach (var (input, expected) in cases)
        {
            var actual = tokenizer.Encode(input);
            if (!actual.SequenceEqual(expected))
                failures.Add($"'{input}': expected [{string.Join(' ', expected)}] got [{string.Join(' ', actual)}]");
            else if (tokenizer.Decode(actual) != input)
                failures.Add($"'{input}': decodes to '{tokenizer.Decode(actual)}'");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Llama_spm_vectors_with_llama2_tokenizer_model() =>
        AssertAllCasesMatch(SentencePieceTokenizers.Load("tokenizers/llama2_tokenizer.model"), "ggml-vocab-llama-spm.gguf.out");
}
