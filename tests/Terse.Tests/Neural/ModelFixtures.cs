using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Terse.Neural;
using Terse.Neural.Checkpoints;
using Terse.Tests.Infrastructure;

namespace Terse.Tests.Neural;

/// <summary>Shared real models (loaded once) and small helpers for the engine tests.</summary>
public static class ModelFixtures
{
    private static readonly Lazy<LlamaModel> LazyStories = new(() => Llama2cCheckpoint.Load(TestData.Path("models/stories260K.bin")));
    private static readonly Lazy<LlamaModel> LazyAidreams = new(() => Llama2cCheckpoint.Load(TestData.Path("models/aidreams260K.bin")));
    private static readonly Lazy<LlamaModel> LazyBabyLlama = new(() => Llama2cCheckpoint.Load(TestData.Path("models/babyllama_tok105_model5000.bin")));

    public static LlamaModel Stories260K => LazyStories.Value;
    public static LlamaModel Aidreams260K => LazyAidreams.Value;
    public static LlamaModel BabyLlama => LazyBabyLlama.Value;

    public static LlamaModel Load(string file) => file switch
    {
        "stories260K.bin" => Stories260K,
        "aidreams260K.bin" => Aidreams260K,
        _ => Llama2cCheckpoint.Load(TestData.Path("models/" + file)),
    };

    /// <summary>
    /// The pieces of a llama2.c tokenizer file, read independently of the library's tokenizer so the
    /// engine can be checked on its own: int32 max length, then per token (float score, int32 length, bytes).
    /// </summary>
    public static byte[][] ReadLlama2cPieces(string file, int vocabularySize)
    {
        var data = TestData.ReadBytes("models/" + file);
        var pieces = new byte[vocabularySize][];
        int at = 4;
        for (int i = 0; i < vocabularySize; i++)
        {
            int length = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(at + 4));
            pieces[i] = data.AsSpan(at + 8, length).ToArray();
            at += 8 + length;
        }
        return pieces;
    }

    /// <summary>Greedy decoding from BOS (id 1) as run.c does, returning the generated ids (excluding BOS).</summary>
    public static List<int> GreedyFromBos(LlamaModel model, int steps)
    {
        var session = model.CreateSession();
        var ids = new List<int>();
        int token = 1;
        for (int pos = 0; pos < steps; pos++)
        {
            var logits = session.Step(token);
            int next = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits);
            if (next == 1)
                break;
            ids.Add(next);
            token = next;
        }
        return ids;
    }

    public record GoldenCase(string Model, string Tokenizer, string Prompt, int Steps, string Expected);

    public static IReadOnlyList<GoldenCase> GoldenCases() =>
        File.ReadAllLines(TestData.Path("golden/llama2c_greedy.jsonl"))
            .Where(line => line.Length > 0)
            .Select(line =>
            {
                using var json = JsonDocument.Parse(line);
                var root = json.RootElement;
                return new GoldenCase(root.GetProperty("model").GetString()!, root.GetProperty("tokenizer").GetString()!,
                    root.GetProperty("prompt").GetString()!, root.GetProperty("steps").GetInt32(), root.GetProperty("expected").GetString()!);
            })
            .ToList();

    /// <summary>run.c's printing of generated pieces from BOS (no prompt): leading space dropped after BOS, raw bytes for &lt;0xNN&gt;, unprintable single bytes skipped.</summary>
    public static string PrintLikeRunC(byte[][] pieces, IReadOnlyList<int> ids)
    {
        var output = new List<byte>();
        int previous = 1;
        foreach (int id in ids)
        {
            var piece = pieces[id];
            if (previous == 1 && piece.Length > 0 && piece[0] == ' ')
                piece = piece[1..];
            var text = Encoding.ASCII.GetString(piece);
            if (text.Length == 6 && text.StartsWith("<0x") && text.EndsWith('>'))
                piece = [Convert.ToByte(text.Substring(3, 2), 16)];
            if (piece.Length == 1 && !(piece[0] is >= 0x20 and < 0x7F || piece[0] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\v' or (byte)'\f' or (byte)'\r'))
                piece = [];
            output.AddRange(piece);
            previous = id;
        }
        return Encoding.UTF8.GetString(output.ToArray());
    }
}
