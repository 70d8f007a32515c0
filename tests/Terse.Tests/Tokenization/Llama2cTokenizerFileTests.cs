using System.Buffers.Binary;
using System.Text;
using Terse.Tests.Infrastructure;
using Terse.Tokenization;
using Terse.Tokenization.Llama2c;

namespace Terse.Tests.Tokenization;

public class Llama2cTokenizerFileTests
{
    private static byte[] Valid() => File.ReadAllBytes(TestData.Path("models/stories260K_tok512.bin"));

    private static string Rejection(byte[] bytes, int? tokenCount = null) =>
        Assert.Throws<InvalidDataException>(() => Llama2cTokenizer.FromBytes(bytes, "bad", tokenCount)).Message;

    /// <summary>Offset of token <paramref name="index"/>'s 8-byte (score, length) record.</summary>
    private static int RecordOffset(byte[] bytes, int index)
    {
        int position = 4;
        for (int i = 0; i < index; i++)
            position += 8 + BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(position + 4));
        return position;
    }

    [Fact]
    public void Short_header_is_rejected() =>
        Assert.Contains("too short for the 4-byte max_token_length", Rejection([1, 0]));

    [Fact]
    public void Negative_max_token_length_is_rejected()
    {
        var bytes = Valid();
        BinaryPrimitives.WriteInt32LittleEndian(bytes, -5);
        Assert.Contains("max_token_length in the header is negative", Rejection(bytes));
    }

    [Fact]
    public void Token_longer_than_max_token_length_is_rejected()
    {
        var bytes = Valid();
        BinaryPrimitives.WriteInt32LittleEndian(bytes, 5);
        Assert.Contains("longer than max_token_length 5", Rejection(bytes));
    }

    [Fact]
    public void Negative_and_huge_token_lengths_are_rejected()
    {
        var bytes = Valid();
        int record = RecordOffset(bytes, 300);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(record + 4), -1);
        Assert.Contains("token 300 at offset " + record + " has a negative length", Rejection(bytes));

        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(record + 4), int.MaxValue);
        Assert.Contains("token 300 at offset " + record + " has length 2147483647 but only", Rejection(bytes));
    }

    [Fact]
    public void Truncated_file_is_rejected()
    {
        var bytes = Valid();
        int record = RecordOffset(bytes, 400);
        Assert.Contains("token 400 at offset " + record + " is truncated", Rejection(bytes[..(record + 5)]));
        Assert.Contains("has length", Rejection(bytes[..(record + 9)]));
        Assert.Contains("ends after 400 tokens, expected 512", Rejection(bytes[..record], tokenCount: 512));
    }

    [Fact]
    public void Vocabulary_without_run_c_byte_tokens_is_rejected()
    {
        var bytes = Valid();
        int record = RecordOffset(bytes, 3 + 0x41);
        bytes[record + 8 + 3] = (byte)'2'; // <0x41> → <0x21>
        Assert.Contains("token 68 is '<0x21>', but run.c's byte fallback needs <0x41> there", Rejection(bytes));
        Assert.Contains("byte fallback needs tokens 3..258", Rejection(Valid()[..RecordOffset(Valid(), 100)]));
    }

    [Fact]
    public void Nul_inside_a_piece_is_rejected()
    {
        var bytes = Valid();
        int record = RecordOffset(bytes, 300);
        bytes[record + 8] = 0;
        Assert.Contains("token 300 contains a NUL byte", Rejection(bytes));
    }

    [Fact]
    public void Empty_file_body_is_rejected() =>
        Assert.Contains("holds no tokens", Rejection([7, 0, 0, 0]));

    [Fact]
    public void Random_and_mutated_files_load_or_fail_cleanly()
    {
        var valid = Valid();
        var outcome = FormatFuzzer.Run(valid, bytes =>
        {
            var tokenizer = Llama2cTokenizer.FromBytes(bytes, "fuzz");
            // A vocabulary that loads must also encode and decode without surprises.
            const string text = "Once upon a time, 🦙 said\n\"hi\"";
            var ids = tokenizer.Encode(text, new EncodeOptions(AddBos: true));
            Assert.Equal(Encoding.UTF8.GetBytes(text), tokenizer.DecodeToBytes(ids));
        }, cases: 3000, seed: 2);
        Assert.True(outcome.Rejected > 1000, $"most mutations should be caught: {outcome}");
        Assert.True(outcome.Loaded > 100, $"some mutations (scores, piece bytes) should still load: {outcome}");
    }
}
