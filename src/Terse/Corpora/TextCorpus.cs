using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace Terse.Corpora;

/// <summary>The kind of text a source holds; training mixes are weighted by it.</summary>
public enum TextDomain { Stories, Encyclopedic, News, QuestionAnswering, Dialogue, Code, Logs }

/// <summary>Which part of a source a document belongs to. Training reads only <see cref="Train"/>.</summary>
/// <remarks>
/// <see cref="Development"/> is for monitoring and tuning (a copy probe during training, choosing a
/// setting); <see cref="HeldOut"/> is only for the figures that are reported.
/// </remarks>
public enum Split { Train, Development, HeldOut }

/// <summary>One document of a source: a story, an article, a question with its passages, a log line.</summary>
/// <param name="Index">Position of the document in its source file (0-based).</param>
public sealed record TextDocument(string Source, int Index, Split Split, string Text);

/// <summary>
/// A data file of <c>../shared/data/text</c> (see its SOURCES.md for provenance and licences), how it
/// divides into documents, and its fixed split. The splits are contiguous cuts by document index,
/// so a story, an article or a question never straddles two splits: the first documents train, the
/// next few are for development, the last ones are held out.
/// </summary>
/// <param name="FileName">File name within the text folder.</param>
/// <param name="TrainEnd">Documents [0, TrainEnd) train (fraction of the document count, rounded down).</param>
/// <param name="DevelopmentEnd">Documents [TrainEnd, DevelopmentEnd) are for development; the rest are held out.</param>
public sealed record TextSource(string FileName, TextDomain Domain, string Licence, double TrainEnd, double DevelopmentEnd,
    Func<byte[], IReadOnlyList<string>> ReadDocuments)
{
    public Split SplitOf(int index, int count)
    {
        if ((uint)index >= (uint)count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"document index outside 0..{count - 1}");
        if (index < (int)(count * TrainEnd))
            return Split.Train;
        return index < (int)(count * DevelopmentEnd) ? Split.Development : Split.HeldOut;
    }
}

/// <summary>
/// The text Terse trains and evaluates its models on, with the one fixed split every trainer and
/// every evaluation uses (held-out text is never trained on; a test checks that no training
/// document overlaps a held-out one). Files are read from a folder laid out as
/// <c>../shared/data/text</c>.
/// </summary>
public static class TextCorpus
{
    /// <summary>The HotpotQA file: its questions are also read as <see cref="HotpotQuestion"/>s.</summary>
    public const string HotpotQaFile = "hotpotqa_dev_subsampled500.jsonl";

    /// <summary>Every source, in a fixed order. Fractions are of the document count.</summary>
    public static IReadOnlyList<TextSource> Sources { get; } =
    [
        new("tinystories_valid_head.txt", TextDomain.Stories, "CDLA-Sharing-1.0 (TinyStories)", 0.75, 0.80, ReadStories),
        new("wikitext2_raw_test.txt", TextDomain.Encyclopedic, "CC BY-SA 3.0 / GFDL (WikiText)", 0.55, 0.60, ReadWikiTextArticles),
        new("flashrag_wiki_passages_sample.jsonl", TextDomain.Encyclopedic, "CC BY-SA (Wikipedia passages, FlashRAG sample)", 0.75, 0.80, ReadFlashRagPassages),
        new("cnndm_test100.source", TextDomain.News, "Apache-2.0 (CNN/DailyMail); repository CC BY-NC 4.0", 0.55, 0.60, ReadLines),
        new(HotpotQaFile, TextDomain.QuestionAnswering, "CC BY-SA 4.0 (HotpotQA)", 0.55, 0.60, bytes => [.. HotpotQuestion.Parse(bytes).Select(q => q.ToText())]),
        new("qulac.json", TextDomain.Dialogue, "MIT (Qulac)", 0.75, 0.80, ReadQulacTopics),
        new("humaneval.jsonl.gz", TextDomain.Code, "MIT (HumanEval)", 0.75, 0.80, ReadHumanEval),
        new("loghub_HDFS_2k.log", TextDomain.Logs, "Loghub: research and academic use", 0.75, 0.80, ReadLines),
        new("loghub_OpenSSH_2k.log", TextDomain.Logs, "Loghub: research and academic use", 0.75, 0.80, ReadLines),
        // Too small to train on: evaluation only.
        new("squad_v2_sample.json", TextDomain.QuestionAnswering, "CC BY-SA 4.0 (SQuAD)", 0, 0, ReadSquadContexts),
        new("xsum_sample.json", TextDomain.News, "research use (XSum)", 0, 0, ReadXsumDocuments),
    ];

    /// <summary>The source called <paramref name="fileName"/>.</summary>
    public static TextSource Source(string fileName) =>
        Sources.FirstOrDefault(s => s.FileName == fileName) ?? throw new ArgumentException($"no text source '{fileName}'", nameof(fileName));

    /// <summary>The documents of one source in one split, in file order.</summary>
    public static IReadOnlyList<TextDocument> Documents(string textFolder, TextSource source, Split split)
    {
        var texts = ReadSource(textFolder, source);
        var documents = new List<TextDocument>();
        for (int i = 0; i < texts.Count; i++)
            if (source.SplitOf(i, texts.Count) == split)
                documents.Add(new TextDocument(source.FileName, i, split, texts[i]));
        if (split == Split.Train && source.FileName == HotpotQaFile)
            return WithoutHeldOutParagraphs(textFolder, documents);
        return documents;
    }

    /// <summary>The documents of every source in one split.</summary>
    public static IReadOnlyList<TextDocument> Documents(string textFolder, Split split) =>
        [.. Sources.SelectMany(source => Documents(textFolder, source, split))];

    private static IReadOnlyList<string> ReadSource(string textFolder, TextSource source)
    {
        string path = Path.Combine(textFolder, source.FileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"no corpus file {path} (the text folder is laid out as ../shared/data/text)", path);
        return source.ReadDocuments(File.ReadAllBytes(path));
    }

    /// <summary>
    /// HotpotQA questions share Wikipedia paragraphs: a training question keeps only the paragraphs
    /// no development or held-out question has, so that none of their text is trained on.
    /// </summary>
    private static IReadOnlyList<TextDocument> WithoutHeldOutParagraphs(string textFolder, List<TextDocument> train)
    {
        var questions = HotpotQuestion.Parse(File.ReadAllBytes(Path.Combine(textFolder, HotpotQaFile)));
        var source = Source(HotpotQaFile);
        var reserved = new HashSet<string>(questions.Where((q, i) => source.SplitOf(i, questions.Count) != Split.Train)
            .SelectMany(q => q.Paragraphs.Select(p => p.Text)), StringComparer.Ordinal);
        return [.. train.Select(d => d with { Text = questions[d.Index].ToText(p => !reserved.Contains(p.Text)) })];
    }

    private static IReadOnlyList<string> ReadLines(byte[] bytes) =>
        [.. Encoding.UTF8.GetString(bytes).Split('\n').Where(line => line.Length > 0).Select(line => line + "\n")];

    /// <summary>Stories begin with a paragraph that opens "Once upon a time" or follow a blank line; split at blank lines before a new story.</summary>
    private static IReadOnlyList<string> ReadStories(byte[] bytes)
    {
        string text = Encoding.UTF8.GetString(bytes);
        var stories = new List<string>();
        int start = 0;
        while (start < text.Length)
        {
            // Stories contain blank lines of their own; a story ends where the next one opens.
            int next = text.IndexOf("\n\nOnce upon a time", start, StringComparison.Ordinal);
            int end = next < 0 ? text.Length : next + 2;
            stories.Add(text[start..end]);
            start = end;
        }
        return stories;
    }

    /// <summary>Articles open with a top-level heading line " = Title = ".</summary>
    private static IReadOnlyList<string> ReadWikiTextArticles(byte[] bytes)
    {
        var articles = new List<string>();
        var current = new StringBuilder();
        foreach (var line in Encoding.UTF8.GetString(bytes).Split('\n'))
        {
            bool heading = line.StartsWith(" = ", StringComparison.Ordinal) && !line.StartsWith(" = = ", StringComparison.Ordinal);
            if (heading && current.Length > 0)
            {
                articles.Add(current.ToString());
                current.Clear();
            }
            if (line.Length > 0)
                current.Append(line).Append('\n');
        }
        if (current.Length > 0)
            articles.Add(current.ToString());
        return articles;
    }

    private static IReadOnlyList<string> ReadFlashRagPassages(byte[] bytes) =>
        [.. JsonLines(bytes).Select(o => o.GetProperty("contents").GetString() + "\n")];

    private static IReadOnlyList<string> ReadHumanEval(byte[] gzipped)
    {
        using var input = new GZipStream(new MemoryStream(gzipped), CompressionMode.Decompress);
        using var text = new MemoryStream();
        input.CopyTo(text);
        return [.. JsonLines(text.ToArray()).Select(o => o.GetProperty("prompt").GetString() + o.GetProperty("canonical_solution").GetString() + "\n")];
    }

    /// <summary>One document per topic: its description, then each clarifying question with its answer.</summary>
    private static IReadOnlyList<string> ReadQulacTopics(byte[] bytes)
    {
        using var json = JsonDocument.Parse(bytes);
        var root = json.RootElement;
        Dictionary<string, string> Column(string name) => root.GetProperty(name).EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.ToString());
        var topicIds = Column("topic_id");
        var topics = Column("topic");
        var descriptions = Column("topic_desc");
        var questions = Column("question");
        var answers = Column("answer");
        var byTopic = new SortedDictionary<int, StringBuilder>();
        foreach (var row in topicIds.Keys.OrderBy(int.Parse))
        {
            int topic = int.Parse(topicIds[row]);
            if (!byTopic.TryGetValue(topic, out var text))
                byTopic[topic] = text = new StringBuilder().Append(topics[row]).Append(": ").Append(descriptions[row]).Append('\n');
            text.Append("Q: ").Append(questions[row]).Append("\nA: ").Append(answers[row]).Append('\n');
        }
        return [.. byTopic.Values.Select(t => t.ToString())];
    }

    private static IReadOnlyList<string> ReadSquadContexts(byte[] bytes)
    {
        using var json = JsonDocument.Parse(bytes);
        return [.. json.RootElement.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("context").GetString()!).Distinct().Select(c => c + "\n")];
    }

    private static IReadOnlyList<string> ReadXsumDocuments(byte[] bytes) =>
        [.. JsonLines(bytes).Select(o => o.GetProperty("document").GetString() + "\n")];

    internal static IEnumerable<JsonElement> JsonLines(byte[] bytes)
    {
        foreach (var line in Encoding.UTF8.GetString(bytes).Split('\n'))
        {
            if (string.IsNullOrWhiteSpace(line))
                continue;
            using var json = JsonDocument.Parse(line);
            yield return json.RootElement.Clone();
        }
    }
}

/// <summary>A HotpotQA question in the IRCoT layout: the question, its answer spans and ten titled paragraphs.</summary>
public sealed record HotpotQuestion(string Id, string Question, IReadOnlyList<string> Answers, IReadOnlyList<HotpotParagraph> Paragraphs)
{
    public static IReadOnlyList<HotpotQuestion> Parse(byte[] jsonLines) =>
    [
        .. TextCorpus.JsonLines(jsonLines).Select(o => new HotpotQuestion(
            o.GetProperty("question_id").GetString()!,
            o.GetProperty("question_text").GetString()!,
            [.. o.GetProperty("answers_objects").EnumerateArray().SelectMany(a => a.GetProperty("spans").EnumerateArray()).Select(s => s.GetString()!)],
            [.. o.GetProperty("contexts").EnumerateArray().Select(c => new HotpotParagraph(
                c.GetProperty("title").GetString()!, c.GetProperty("paragraph_text").GetString()!, c.GetProperty("is_supporting").GetBoolean()))])),
    ];

    /// <summary>The paragraphs (title line, text), then the question and its first answer.</summary>
    public string ToText(Func<HotpotParagraph, bool>? keep = null)
    {
        var text = new StringBuilder();
        foreach (var paragraph in Paragraphs.Where(keep ?? (_ => true)))
            text.Append(paragraph.Title).Append('\n').Append(paragraph.Text).Append("\n\n");
        text.Append("Question: ").Append(Question).Append("\nAnswer: ").Append(Answers.FirstOrDefault() ?? "").Append('\n');
        return text.ToString();
    }
}

public sealed record HotpotParagraph(string Title, string Text, bool IsSupporting);
