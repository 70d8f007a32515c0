using Terse.Tokenization.Tiktoken;

namespace Terse.Benchmarks.Tokenization;

/// <summary>
/// Regenerates the library's embedded tokenizer assets (assets/tokenizers/*.ranks.br) from the
/// .tiktoken rank files:  tokenizer-assets SOURCE_DIR OUTPUT_DIR
/// </summary>
internal static class TokenizerAssetsCommand
{
    public static int Run(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: tokenizer-assets SOURCE_DIR OUTPUT_DIR   (SOURCE_DIR holds r50k_base.tiktoken, …)");
            return 2;
        }
        Directory.CreateDirectory(args[1]);
        foreach (var asset in TiktokenEncodings.BuiltIn.Select(e => e.RanksAsset).Distinct())
        {
            var encodingName = asset[..asset.IndexOf('.')];
            var source = Path.Combine(args[0], encodingName + ".tiktoken");
            var ranks = TiktokenRankFile.Parse(File.ReadAllBytes(source), source);
            var destination = Path.Combine(args[1], asset);
            using (var output = File.Create(destination))
                CompactRanks.Write(ranks, output);
            // Read back: the asset must give exactly the file's ranks.
            using (var input = File.OpenRead(destination))
            {
                var again = CompactRanks.Read(input, destination);
                if (again.Length != ranks.Length || !again.Zip(ranks).All(p => (p.First ?? []).AsSpan().SequenceEqual(p.Second ?? [])))
                    throw new InvalidOperationException($"{destination} does not read back as {source}");
            }
            Console.WriteLine($"{destination}: {new FileInfo(destination).Length:N0} bytes from {new FileInfo(source).Length:N0} ({ranks.Count(r => r is not null):N0} tokens)");
        }
        return 0;
    }
}
