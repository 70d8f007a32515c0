using System.Text;
using System.Text.Json;
using Terse.Corpora;
using Terse.Pretraining;
using Terse.Tokenization;

namespace Terse.Evaluation;

/// <summary>
/// A scored item: the reader sees (a compression of) <see cref="Context"/>, then reads
/// <see cref="Lead"/> (empty for continuation; the summary's lead-in) and is scored on
/// <see cref="Target"/>.
/// </summary>
public sealed record ContinuationItem(string Source, int Document, int[] Context, int[] Lead, int[] Target);

/// <summary>
/// An extractive question: an answer is a span of <see cref="Context"/>. The reader sees (a
/// compression of) the context, then <see cref="Prompt"/> (the question and the answer's lead-in),
/// and its greedy continuation up to the end of the line is its answer.
/// </summary>
/// <param name="Kind">Where it comes from: <c>facts</c> (a key–value fact inserted into real text), <c>hotpotqa</c>, <c>squad</c>.</param>
public sealed record QuestionItem(string Kind, string Source, int Document, int[] Context, int[] Prompt, IReadOnlyList<string> Answers);

/// <summary>Sizes of the evaluation items.</summary>
/// <param name="PerSource">Items per source (continuation) or per kind (questions).</param>
/// <param name="ContextTokens">Tokens of context before compression (continuation; the upper bound for questions).</param>
/// <param name="TargetTokens">Tokens of continuation (or at most of summary) scored.</param>
/// <param name="ReconstructionPerSource">Contexts per continuation source that are also reconstructed.</param>
/// <param name="ReconstructionTokens">Tokens of each reconstructed context: its first ones, so that the context and its recital fit the reader's window.</param>
public sealed record ItemSettings(int PerSource = 50, int ContextTokens = 320, int TargetTokens = 64, int ReconstructionPerSource = 25, int ReconstructionTokens = 160, ulong Seed = 1);

/// <summary>
/// Builds the harness's items from the <b>held-out</b> split of <see cref="TextCorpus"/> only (and
/// from SQuAD, which no split trains on), so that no trained component has read them. The same
/// settings give the same items.
/// </summary>
public static class EvaluationItems
{
    /// <summary>The sources the continuation task reads: stories, encyclopedic, news and QA passages.</summary>
    public static IReadOnlyList<string> ContinuationSources { get; } =
        ["tinystories_valid_head.txt", "wikitext2_raw_test.txt", CnnDmFile, TextCorpus.HotpotQaFile];

    /// <summary>Texts the facts are inserted into.</summary>
    private static readonly string[] s_factHosts = ["tinystories_valid_head.txt", "wikitext2_raw_test.txt", CnnDmFile];

    private static readonly string[] s_names =
    [
        "Mira Talbot", "Oskar Venn", "Lena Farrow", "Tomas Reyes", "Ada Kline", "Jonah Pike", "Nell Ashby", "Ivo Marsh",
        "Rosa Quill", "Felix Dunn", "Greta Holm", "Caleb Stroud", "Wren Maddox", "Hugo Lark", "Iris Vance", "Otto Brandt",
    ];

    private static readonly string[] s_attributes = ["code", "room number", "badge number", "locker number", "ticket number", "pin"];

    public static IReadOnlyList<ContinuationItem> Continuations(string textFolder, Tokenizer tokenizer, ItemSettings settings)
    {
        var items = new List<ContinuationItem>();
        foreach (var file in ContinuationSources)
        {
            ulong rng = settings.Seed;
            int need = settings.ContextTokens + settings.TargetTokens;
            foreach (var (document, ids) in Windows(textFolder, file, tokenizer, need, settings.PerSource, ref rng))
                items.Add(new ContinuationItem(file, document, ids[..settings.ContextTokens], [], ids[settings.ContextTokens..need]));
        }
        return items;
    }

    /// <summary>
    /// Training samples from the <b>train</b> split of the continuation sources, for tuning readers
    /// (<see cref="ReaderTuning"/>): each source's training documents as one token stream (a blank
    /// line between documents), windows at seeded positions, the sources in turn. Every fourth
    /// sample is a fact question in the harness's format (a fact put into the window, the question
    /// as the lead, the number as the target), with names the evaluation never uses, so that a reader
    /// tuned on continuation alone does not unlearn the copying that answering needs. Never
    /// held-out text.
    /// </summary>
    public static IReadOnlyList<ContinuationItem> TrainingWindows(string textFolder, Tokenizer tokenizer, ItemSettings settings, int count)
    {
        int length = settings.ContextTokens + settings.TargetTokens;
        var streams = ContinuationSources.Select(file => (File: file, Ids: tokenizer.Encode(string.Join("\n\n",
            TextCorpus.Documents(textFolder, TextCorpus.Source(file), Split.Train).Select(d => d.Text))))).Where(s => s.Ids.Length > length).ToList();
        if (streams.Count == 0)
            throw new ArgumentException($"no training text of {length} tokens in {textFolder}");
        ulong rng = settings.Seed;
        var windows = new List<ContinuationItem>(count);
        for (int i = 0; i < count; i++)
        {
            var (file, ids) = streams[i % streams.Count];
            int start = EpisodeBuilder.Between(0, ids.Length - length, ref rng);
            if (i % 4 == 3)
            {
                var fact = Fact(file, -1, ids[start..(start + settings.ContextTokens - 24)], tokenizer, s_trainingNames, ref rng);
                windows.Add(new ContinuationItem(file, -1, fact.Context, fact.Prompt, CopyTest.SeparatorIds(tokenizer, $" {fact.Answers[0]}.")));
            }
            else
                windows.Add(new ContinuationItem(file, -1, ids[start..(start + settings.ContextTokens)], [], ids[(start + settings.ContextTokens)..(start + length)]));
        }
        return windows;
    }

    /// <summary>Names of the training facts: none of them is an evaluation name.</summary>
    private static readonly string[] s_trainingNames =
    [
        "Anna Berg", "Milo Crane", "Tess Hale", "Rufus Lind", "Clara Moss", "Dev Patel", "Elsa Nord", "Gus Ortega",
        "Hana Sato", "Ivan Petrov", "June Reyes", "Kai Brooks", "Lola Fisch", "Max Weber", "Nina Cole", "Omar Haddad",
    ];

    /// <summary>The text every summary target is read after.</summary>
    public const string SummaryLead = "\n\nSummary:";

    /// <summary>
    /// Summary items, scored as the likelihood of a reference summary after the compressed
    /// document (a 1M-parameter model cannot write summaries, but how well a context predicts its
    /// summary measures what the compression kept of it):
    /// <list type="bullet">
    /// <item>CNN/DailyMail held-out articles, whose reference highlights are not in the data: the
    /// article's first three sentences (lead-3, the standard extractive summary of CNN/DM) are
    /// the target, and the context is the article after them;</item>
    /// <item>XSum documents (never trained on) with their reference one-sentence summaries.</item>
    /// </list>
    /// </summary>
    public static IReadOnlyList<ContinuationItem> Summaries(string textFolder, Tokenizer tokenizer, ItemSettings settings)
    {
        var items = new List<ContinuationItem>();
        var lead = CopyTest.SeparatorIds(tokenizer, SummaryLead + " ");
        foreach (var document in TextCorpus.Documents(textFolder, TextCorpus.Source(CnnDmFile), Split.HeldOut))
        {
            if (items.Count == settings.PerSource)
                break;
            var ends = SentenceBoundaries(document.Text);
            if (ends.Count < 4)
                continue;
            var target = tokenizer.Encode(document.Text[..ends[2]].Trim());
            var context = tokenizer.Encode(document.Text[ends[2]..]);
            if (context.Length < settings.ContextTokens)
                continue;
            items.Add(new ContinuationItem(CnnDmFile, document.Index, context[..settings.ContextTokens], lead, target[..Math.Min(target.Length, settings.TargetTokens)]));
        }
        int made = 0;
        foreach (var (index, text, summary) in XsumPairs(textFolder))
        {
            var context = tokenizer.Encode(text);
            if (made == settings.PerSource || context.Length < settings.ContextTokens / 4)
                continue;
            var target = tokenizer.Encode(summary.Trim());
            items.Add(new ContinuationItem(XsumFile, index, context[..Math.Min(context.Length, settings.ContextTokens)], lead, target[..Math.Min(target.Length, settings.TargetTokens)]));
            made++;
        }
        return items;
    }

    private const string CnnDmFile = "cnndm_test100.source", XsumFile = "xsum_sample.json";

    /// <summary>The XSum sample's (line, document, summary) triples; no split trains on it.</summary>
    private static IEnumerable<(int Index, string Document, string Summary)> XsumPairs(string textFolder)
    {
        int index = 0;
        foreach (var line in File.ReadLines(Path.Combine(textFolder, XsumFile)))
        {
            if (line.Length == 0)
                continue;
            using var json = JsonDocument.Parse(line);
            yield return (index++, json.RootElement.GetProperty("document").GetString()!, json.RootElement.GetProperty("summary").GetString()!);
        }
    }

    /// <summary>Facts inserted into held-out text, HotpotQA questions (supporting paragraphs as context) and SQuAD questions.</summary>
    public static IReadOnlyList<QuestionItem> Questions(string textFolder, Tokenizer tokenizer, ItemSettings settings)
    {
        var items = new List<QuestionItem>();
        items.AddRange(Facts(textFolder, tokenizer, settings));
        items.AddRange(Hotpot(textFolder, tokenizer, settings));
        items.AddRange(Squad(textFolder, tokenizer, settings));
        return items;
    }

    /// <summary>
    /// A held-out passage with one sentence "The {attribute} of {name} is {number}." put in at a
    /// sentence boundary; the prompt asks for it and leads the answer in ("Answer: The code of Mira
    /// Talbot is"), so that a model of our size, which cannot follow instructions, is asked to
    /// copy rather than to obey.
    /// </summary>
    private static IEnumerable<QuestionItem> Facts(string textFolder, Tokenizer tokenizer, ItemSettings settings)
    {
        ulong rng = settings.Seed;
        int perHost = (settings.PerSource + s_factHosts.Length - 1) / s_factHosts.Length, made = 0;
        int passageTokens = settings.ContextTokens - 24;
        foreach (var file in s_factHosts)
        {
            foreach (var (document, ids) in Windows(textFolder, file, tokenizer, passageTokens, perHost, ref rng))
            {
                if (made == settings.PerSource)
                    yield break;
                made++;
                yield return Fact(file, document, ids, tokenizer, s_names, ref rng);
            }
        }
    }

    /// <summary>
    /// One fact question: the sentence "The {attribute} of {name} is {number}." put into
    /// <paramref name="passage"/> at a seeded sentence boundary, the question, and its answer.
    /// </summary>
    private static QuestionItem Fact(string file, int document, int[] passage, Tokenizer tokenizer, string[] names, ref ulong rng)
    {
        string text = tokenizer.Decode(passage);
        string name = names[EpisodeBuilder.Between(0, names.Length - 1, ref rng)];
        string attribute = s_attributes[EpisodeBuilder.Between(0, s_attributes.Length - 1, ref rng)];
        string value = EpisodeBuilder.Between(100, 99_999, ref rng).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var boundaries = SentenceBoundaries(text);
        int at = boundaries[EpisodeBuilder.Between(0, boundaries.Count - 1, ref rng)];
        string context = text[..at] + $"The {attribute} of {name} is {value}. " + text[at..];
        string prompt = $"\nQuestion: What is the {attribute} of {name}?\nAnswer: The {attribute} of {name} is";
        return new QuestionItem("facts", file, document, tokenizer.Encode(context), CopyTest.SeparatorIds(tokenizer, prompt), [value]);
    }

    /// <summary>Held-out HotpotQA questions whose answer is a span of a supporting paragraph; the context is the supporting paragraphs in the training layout.</summary>
    private static IEnumerable<QuestionItem> Hotpot(string textFolder, Tokenizer tokenizer, ItemSettings settings)
    {
        var source = TextCorpus.Source(TextCorpus.HotpotQaFile);
        var questions = HotpotQuestion.Parse(File.ReadAllBytes(Path.Combine(textFolder, TextCorpus.HotpotQaFile)));
        int made = 0;
        for (int i = 0; i < questions.Count && made < settings.PerSource; i++)
        {
            if (source.SplitOf(i, questions.Count) != Split.HeldOut)
                continue;
            var q = questions[i];
            var supporting = q.Paragraphs.Where(p => p.IsSupporting).ToList();
            var answers = q.Answers.Where(a => a.Length > 0 && a is not ("yes" or "no")).ToList();
            if (answers.Count == 0)
                continue;
            // Both supporting paragraphs when they fit, else the one that holds the answer.
            foreach (var paragraphs in new[] { supporting, supporting.Where(p => answers.Any(a => p.Text.Contains(a, StringComparison.Ordinal))).Take(1).ToList() })
            {
                string context = string.Concat(paragraphs.Select(p => $"{p.Title}\n{p.Text}\n\n"));
                if (paragraphs.Count == 0 || !answers.Any(a => context.Contains(a, StringComparison.Ordinal)))
                    continue;
                var ids = tokenizer.Encode(context);
                if (ids.Length > settings.ContextTokens)
                    continue;
                made++;
                yield return new QuestionItem("hotpotqa", TextCorpus.HotpotQaFile, i, ids, CopyTest.SeparatorIds(tokenizer, $"Question: {q.Question}\nAnswer:"), answers);
                break;
            }
        }
    }

    /// <summary>
    /// SQuAD questions that have an answer (no split trains on the SQuAD sample), in file order; a
    /// context longer than the setting is cut to its first tokens, and the question kept only when an
    /// answer is still in them.
    /// </summary>
    private static IEnumerable<QuestionItem> Squad(string textFolder, Tokenizer tokenizer, ItemSettings settings)
    {
        const string file = "squad_v2_sample.json";
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(textFolder, file)));
        int made = 0, index = 0;
        foreach (var entry in json.RootElement.GetProperty("data").EnumerateArray())
        {
            int document = index++;
            var answers = entry.GetProperty("answers").GetProperty("text").EnumerateArray().Select(a => a.GetString()!).Where(a => a.Length > 0).Distinct().ToList();
            if (answers.Count == 0 || made == settings.PerSource)
                continue;
            var ids = tokenizer.Encode(entry.GetProperty("context").GetString()! + "\n\n");
            if (ids.Length > settings.ContextTokens)
            {
                ids = ids[..settings.ContextTokens];
                string kept = tokenizer.Decode(ids);
                answers = answers.Where(a => kept.Contains(a, StringComparison.Ordinal)).ToList();
                if (answers.Count == 0)
                    continue;
            }
            made++;
            yield return new QuestionItem("squad", file, document, ids,
                CopyTest.SeparatorIds(tokenizer, $"Question: {entry.GetProperty("question").GetString()}\nAnswer:"), answers);
        }
    }

    /// <summary>
    /// Windows of <paramref name="length"/> token ids from held-out documents of one source, at most
    /// one per document, documents in a seeded order; a window starts at its document's start when
    /// the document is long enough, otherwise after a line break or space at a seeded position.
    /// </summary>
    private static IEnumerable<(int Document, int[] Ids)> Windows(string textFolder, string file, Tokenizer tokenizer, int length, int count, ref ulong rng)
    {
        var documents = TextCorpus.Documents(textFolder, TextCorpus.Source(file), Split.HeldOut);
        var order = Enumerable.Range(0, documents.Count).ToArray();
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = EpisodeBuilder.Between(0, i, ref rng);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var windows = new List<(int, int[])>();
        foreach (int d in order)
        {
            if (windows.Count == count)
                break;
            string text = documents[d].Text;
            // About 4 characters a token or fewer: 8 per token always holds enough.
            int span = Math.Min(text.Length, 8 * length + 16);
            int start = 0;
            if (span < text.Length)
            {
                int from = EpisodeBuilder.Between(0, text.Length - span, ref rng);
                int space = text.IndexOfAny(['\n', ' '], from);
                start = space < 0 || space + 1 >= text.Length ? from : space + 1;
            }
            var ids = tokenizer.Encode(text.Substring(start, Math.Min(span, text.Length - start)));
            // The last token may be cut mid-merge by the piece's end: keep whole tokens only.
            if (ids.Length > length)
                windows.Add((documents[d].Index, ids[..length]));
        }
        return windows;
    }

    /// <summary>Character offsets where a new sentence may start (after ". ", "! ", "? " or a line break), and the end.</summary>
    private static List<int> SentenceBoundaries(string text)
    {
        var at = new List<int>();
        for (int i = 1; i < text.Length; i++)
            if ((text[i - 1] == ' ' && i >= 2 && text[i - 2] is '.' or '!' or '?') || text[i - 1] == '\n')
                at.Add(i);
        if (at.Count == 0)
            at.Add(text.Length);
        return at;
    }
}
