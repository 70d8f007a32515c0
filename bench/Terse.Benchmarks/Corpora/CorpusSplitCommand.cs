using System.Text;
using Terse.Corpora;

namespace Terse.Benchmarks.Corpora;

/// <summary>
/// <c>corpus-split OUTPUT_DIR [TEXT_DIR]</c>: writes the fixed splits of <see cref="TextCorpus"/>
/// (../shared/data/text by default) as text files, <c>NAME.train.txt</c>,
/// <c>NAME.development.txt</c> and <c>NAME.heldout.txt</c> per source (documents concatenated), for
/// commands that train or evaluate on files: <c>terse ztokens train</c>, <c>terse gmsa train</c>.
/// </summary>
public static class CorpusSplitCommand
{
    public static int Run(string[] args)
    {
        if (args.Length is < 1 or > 2)
        {
            Console.Error.WriteLine("usage: corpus-split OUTPUT_DIR [TEXT_DIR]");
            return 2;
        }
        string textFolder = args.Length > 1 ? args[1] : Path.Combine(MetaTokens.MetaTokenData.SharedData, "text");
        Directory.CreateDirectory(args[0]);
        foreach (var source in TextCorpus.Sources)
        {
            string stem = Path.GetFileName(source.FileName).Split('.')[0];
            foreach (var (split, suffix) in new[] { (Split.Train, "train"), (Split.Development, "development"), (Split.HeldOut, "heldout") })
            {
                var documents = TextCorpus.Documents(textFolder, source, split);
                if (documents.Count == 0)
                    continue;
                string path = Path.Combine(args[0], $"{stem}.{suffix}.txt");
                File.WriteAllText(path, string.Concat(documents.Select(d => d.Text)), new UTF8Encoding(false));
                Console.WriteLine($"{path}: {documents.Count} documents, {new FileInfo(path).Length:N0} bytes");
            }
        }
        return 0;
    }
}
