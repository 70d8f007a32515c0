using System.CommandLine;
using System.Globalization;
using System.Text;
using Terse.Cli.Infrastructure;
using Terse.Tokenization;

namespace Terse.Cli.Commands;

/// <summary><c>terse tokenize | detokenize | count | tokenizers</c>: text ⇄ token ids with any tokenizer Terse reads.</summary>
public static class TokenizerCommands
{
    public static void AddTo(RootCommand root)
    {
        root.Subcommands.Add(Tokenize());
        root.Subcommands.Add(Detokenize());
        root.Subcommands.Add(Count());
        root.Subcommands.Add(ListTokenizers());
    }

    private sealed record TokenizeResult(string Tokenizer, int Count, int[] Ids);
    private sealed record CountResult(string Tokenizer, long Count, long Bytes);
    private sealed record DetokenizeResult(string Tokenizer, int Count, string Text);
    private sealed record BuiltInEntry(string Name, IReadOnlyList<string> Aliases, string Description, int VocabularySize);
    private sealed record FileTypeEntry(string Suffix, string Description);
    private sealed record TokenizersResult(IReadOnlyList<BuiltInEntry> BuiltIn, IReadOnlyList<FileTypeEntry> FileTypes);

    /// <summary>The options every tokenizer command shares.</summary>
    private sealed class Common
    {
        public readonly Option<string> Tokenizer = new("--tokenizer", "-t")
        {
            Description = "A built-in name (terse tokenizers lists them) or a tokenizer file (.tiktoken, tokenizer.json, vocab.json, …)",
            Required = true,
        };
        public readonly Option<string?> PreTokenizer = new("--pre-tokenizer")
        {
            Description = "Pre-tokenizer pattern for files that do not determine it: gpt2, cl100k, llama3, qwen2, o200k",
        };
        public readonly Option<bool> Json = new("--json") { Description = "Machine-readable JSON output" };
        public readonly Argument<string?> File = new("file") { Description = "Input file (stdin when absent or -)", Arity = ArgumentArity.ZeroOrOne };

        public Common(Command command)
        {
            command.Options.Add(Tokenizer);
            command.Options.Add(PreTokenizer);
            command.Options.Add(Json);
            command.Arguments.Add(File);
        }

        public Tokenizer Load(ParseResult parseResult) =>
            TokenizerRegistry.Load(parseResult.GetValue(Tokenizer)!, new TokenizerLoadOptions { PreTokenizer = parseResult.GetValue(PreTokenizer) });
    }

    /// <summary>Options of the commands that encode text.</summary>
    private sealed class EncodingOptions
    {
        public readonly Option<bool> AllowSpecial = new("--allow-special")
        {
            Description = "Text spelling a special token (e.g. <|endoftext|>) becomes that token; by default it is ordinary text",
        };
        public readonly Option<bool> Bos = new("--bos") { Description = "Prepend the tokenizer's beginning-of-sequence token" };
        public readonly Option<bool> Eos = new("--eos") { Description = "Append the tokenizer's end-of-sequence token" };

        public EncodingOptions(Command command)
        {
            command.Options.Add(AllowSpecial);
            command.Options.Add(Bos);
            command.Options.Add(Eos);
        }

        /// <summary>
        /// The ids of the input. Valid UTF-8 is encoded as text; other bytes through the tokenizer's byte
        /// tokens, so that <c>detokenize --raw-bytes</c> gives any file back exactly.
        /// </summary>
        public EncodeOptions Options(ParseResult parseResult, Tokenizer tokenizer)
        {
            var options = new EncodeOptions(parseResult.GetValue(AllowSpecial), parseResult.GetValue(Bos), parseResult.GetValue(Eos));
            if (options.AddBos && tokenizer.BosId is null)
                throw new CliException($"tokenizer '{tokenizer.Name}' has no beginning-of-sequence token (--bos)");
            if (options.AddEos && tokenizer.EosId is null)
                throw new CliException($"tokenizer '{tokenizer.Name}' has no end-of-sequence token (--eos)");
            return options;
        }

        public int[] Encode(ParseResult parseResult, Tokenizer tokenizer, byte[] input)
        {
            var options = Options(parseResult, tokenizer);
            if (System.Text.Unicode.Utf8.IsValid(input))
                return tokenizer.Encode(Encoding.UTF8.GetString(input), options);
            var ids = new List<int>(input.Length / 3 + 4);
            if (!tokenizer.TryEncodeBytes(input, ids, options))
                throw new CliException($"the input is not valid UTF-8 and tokenizer '{tokenizer.Name}' cannot encode arbitrary bytes");
            return [.. ids];
        }
    }

    private static Command Tokenize()
    {
        var command = new Command("tokenize", "Print the token ids of a text, separated by spaces, on one line");
        var common = new Common(command);
        var encoding = new EncodingOptions(command);
        command.SetGuardedAction(parseResult =>
        {
            var tokenizer = common.Load(parseResult);
            var options = encoding.Options(parseResult, tokenizer);
            bool json = parseResult.GetValue(common.Json);
            if (!json && StreamingEncoder.Supports(tokenizer, options))
            {
                // Any length in bounded memory: each block's ids are written as they come.
                using var input = CliIO.OpenInput(parseResult.GetValue(common.File));
                var line = new StringBuilder();
                bool first = true;
                StreamingEncoder.Encode(tokenizer, input, options, ids =>
                {
                    line.Clear();
                    foreach (int id in ids)
                    {
                        if (!first)
                            line.Append(' ');
                        first = false;
                        line.Append(id.ToString(CultureInfo.InvariantCulture));
                    }
                    Console.Out.Write(line);
                });
                Console.Out.WriteLine();
                return ExitCodes.Success;
            }
            var all = encoding.Encode(parseResult, tokenizer, CliIO.ReadAllBytes(parseResult.GetValue(common.File)));
            if (json)
                CliIO.WriteJson(new TokenizeResult(tokenizer.Name, all.Length, all));
            else
                WriteIds(all);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Count()
    {
        var command = new Command("count", "Print the number of tokens of a text");
        var common = new Common(command);
        var encoding = new EncodingOptions(command);
        command.SetGuardedAction(parseResult =>
        {
            var tokenizer = common.Load(parseResult);
            var options = encoding.Options(parseResult, tokenizer);
            long count, bytes;
            if (StreamingEncoder.Supports(tokenizer, options))
            {
                using var input = CliIO.OpenInput(parseResult.GetValue(common.File));
                long tokens = 0;
                bytes = StreamingEncoder.Encode(tokenizer, input, options, ids => tokens += ids.Count);
                count = tokens;
            }
            else
            {
                var input = CliIO.ReadAllBytes(parseResult.GetValue(common.File));
                count = encoding.Encode(parseResult, tokenizer, input).Length;
                bytes = input.LongLength;
            }
            if (parseResult.GetValue(common.Json))
                CliIO.WriteJson(new CountResult(tokenizer.Name, count, bytes));
            else
                Console.Out.WriteLine(count.ToString(CultureInfo.InvariantCulture));
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Detokenize()
    {
        var command = new Command("detokenize", "Turn token ids (separated by white space) back into text");
        var common = new Common(command);
        var rawBytes = new Option<bool>("--raw-bytes")
        {
            Description = "Write the exact bytes the ids stand for, even when they are not valid UTF-8 (otherwise such bytes become U+FFFD)",
        };
        var output = new Option<string?>("--output", "-o") { Description = "Write to this file (atomically) instead of stdout" };
        command.Options.Add(rawBytes);
        command.Options.Add(output);
        command.SetGuardedAction(parseResult =>
        {
            var tokenizer = common.Load(parseResult);
            bool json = parseResult.GetValue(common.Json), raw = parseResult.GetValue(rawBytes);
            if (json && raw)
                throw new CliException("--raw-bytes and --json cannot be combined (JSON holds text)");
            var ids = ParseIds(CliIO.ReadAllBytes(parseResult.GetValue(common.File)), tokenizer);
            byte[] bytes;
            try
            {
                bytes = tokenizer.DecodeToBytes(ids);
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw new CliException(e.Message.Split('\n')[0].Replace(" (Parameter 'id')", ""));
            }
            var path = parseResult.GetValue(output);
            if (raw)
                CliIO.WriteAllBytes(path, bytes);
            else
            {
                var text = Encoding.UTF8.GetString(bytes);
                if (json)
                    WriteText(path, System.Text.Json.JsonSerializer.Serialize(new DetokenizeResult(tokenizer.Name, ids.Length, text), CliIO.Json) + "\n");
                else
                    WriteText(path, text);
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command ListTokenizers()
    {
        var command = new Command("tokenizers", "List the built-in tokenizers and the tokenizer file types Terse reads");
        var json = new Option<bool>("--json") { Description = "Machine-readable JSON output" };
        command.Options.Add(json);
        command.SetGuardedAction(parseResult =>
        {
            var builtIns = TokenizerRegistry.BuiltIns.Select(b => new BuiltInEntry(b.Name, b.Aliases, b.Description, b.VocabularySize)).ToList();
            var fileTypes = TokenizerRegistry.FileTypes.Select(t => new FileTypeEntry(t.Suffix, t.Description)).ToList();
            if (parseResult.GetValue(json))
            {
                CliIO.WriteJson(new TokenizersResult(builtIns, fileTypes));
                return ExitCodes.Success;
            }
            Console.Out.WriteLine("Built-in tokenizers (-t NAME):");
            foreach (var b in builtIns)
            {
                var aliases = b.Aliases.Count > 0 ? $" (alias {string.Join(", ", b.Aliases)})" : "";
                Console.Out.WriteLine($"  {b.Name,-12} {b.VocabularySize,7:N0} tokens  {b.Description}{aliases}");
            }
            Console.Out.WriteLine("Tokenizer files (-t PATH), by file name ending:");
            foreach (var t in fileTypes)
                Console.Out.WriteLine($"  {t.Suffix,-15} {t.Description}");
            return ExitCodes.Success;
        });
        return command;
    }

    private static void WriteIds(int[] ids)
    {
        var line = new StringBuilder(ids.Length * 6 + 1);
        for (int i = 0; i < ids.Length; i++)
        {
            if (i > 0)
                line.Append(' ');
            line.Append(ids[i].ToString(CultureInfo.InvariantCulture));
        }
        Console.Out.WriteLine(line.ToString());
    }

    private static void WriteText(string? path, string text)
    {
        if (CliIO.IsStdout(path))
        {
            Console.Out.Write(text);
            Console.Out.Flush();
        }
        else
            CliIO.WriteAllBytes(path, Encoding.UTF8.GetBytes(text));
    }

    /// <summary>White-space separated decimal ids, each checked against the vocabulary.</summary>
    private static int[] ParseIds(byte[] input, Tokenizer tokenizer)
    {
        var text = Encoding.UTF8.GetString(input);
        var items = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        var ids = new int[items.Length];
        for (int i = 0; i < items.Length; i++)
        {
            var item = items[i];
            if (!int.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]))
                throw new CliException($"bad token id '{(item.Length > 20 ? item[..20] + "…" : item)}' (item {i + 1}): not a non-negative integer");
            if (ids[i] >= tokenizer.VocabularySize)
                throw new CliException($"token id {ids[i]} (item {i + 1}) is outside the vocabulary of '{tokenizer.Name}' (0..{tokenizer.VocabularySize - 1})");
        }
        return ids;
    }
}
