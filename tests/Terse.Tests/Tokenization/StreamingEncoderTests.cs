using System.Text;
using Terse.Tests.Infrastructure;
using Terse.Tokenization;

namespace Terse.Tests.Tokenization;

/// <summary>
/// <see cref="StreamingEncoder"/> gives the ids of the whole text, whatever the block size, in
/// memory bounded by its blocks (issue 14: <c>terse count</c> read whole inputs, 5.8 GB for 1 GB).
/// </summary>
public class StreamingEncoderTests
{
    /// <summary>Real prose, logs, JSON and code with invalid UTF-8, control bytes and special-token spellings mixed in.</summary>
    private static readonly Lazy<byte[]> Mixed = new(() =>
    {
        var parts = new[] { "text/tinystories_valid_head.txt", "text/loghub_OpenSSH_2k.log", "text/squad_v2_sample.json", "text/humaneval.jsonl.gz" }
            .Select(name => TestData.ReadBytes(name)).Select(bytes => bytes[..Math.Min(bytes.Length, 200_000)]).ToList();
        parts.Insert(2, [0xFF, 0xFE, (byte)'\n', (byte)'A', 0xC3, (byte)' ', (byte)'x', 0, 0, (byte)'\n', (byte)'b']);
        parts.Insert(1, Encoding.UTF8.GetBytes("end<|endoftext|> word\n<|endoftext|>\nZ  \n\n  tail\r\nX é\nÉ 123 456\n"));
        return [.. parts.SelectMany(p => p)];
    });

    private static List<int> Streamed(Tokenizer tokenizer, byte[] input, EncodeOptions options, int block)
    {
        var all = new List<int>();
        long read = StreamingEncoder.Encode(tokenizer, new MemoryStream(input), options, all.AddRange, block);
        Assert.Equal(input.Length, read);
        return all;
    }

    [Theory]
    [MemberData(nameof(ShippedTokenizers.Theory), MemberType = typeof(ShippedTokenizers))]
    public void BlocksGiveTheIdsOfTheWholeText(string name)
    {
        var tokenizer = ShippedTokenizers.Get(name);
        foreach (var options in new[] { EncodeOptions.Default, new EncodeOptions(AllowSpecialTokens: true, AddBos: true, AddEos: true) })
        {
            if (!StreamingEncoder.Supports(tokenizer, options))
            {
                Assert.Throws<NotSupportedException>(() => Streamed(tokenizer, [1], options, 64));
                continue;
            }
            var whole = new List<int>();
            Assert.True(tokenizer.TryEncodeBytes(Mixed.Value, whole, options));
            foreach (int block in new[] { 1, 7, 4096, 1 << 20 })
                Assert.Equal(whole, Streamed(tokenizer, Mixed.Value, options, block));
        }
    }

    [Fact]
    public void TheTiktokenEncodingsStreamAndSentencePieceDoesNot()
    {
        foreach (var name in new[] { "r50k_base", "p50k_base", "cl100k_base", "o200k_base", "llama3" })
            Assert.True(StreamingEncoder.Supports(ShippedTokenizers.Get(name), EncodeOptions.Default), name);
        Assert.False(StreamingEncoder.Supports(TokenizerRegistry.Load("stories260K"), EncodeOptions.Default));
    }

    [Fact]
    public void TextWithNowhereToCutIsRefusedInBoundedMemory()
    {
        var tokenizer = ShippedTokenizers.Get("cl100k_base");
        var zeros = new byte[1 << 20];
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() =>
            StreamingEncoder.Encode(tokenizer, new MemoryStream(zeros), EncodeOptions.Default, _ => { }, blockBytes: 4096, maxPendingBytes: 64 << 10));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "the refusal held more than the pending limit");
        Assert.Contains("without a space or line break before a letter", e.Message);
    }

    [Theory]
    [InlineData("ab cd", 2)]
    [InlineData("ab\ncd", 3)]
    [InlineData("ab  cd", 0)]
    [InlineData("ab \ncd", 0)]
    [InlineData("ab\r\ncd", 0)]
    [InlineData("a, b 1", 2)]
    [InlineData("é cd", 0)]
    public void CutsAreBeforeAWordAfterAVisibleCharacter(string text, int cut) =>
        Assert.Equal(cut, StreamingEncoder.LastCut(Encoding.UTF8.GetBytes(text)));
}
