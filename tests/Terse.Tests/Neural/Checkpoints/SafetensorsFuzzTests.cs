using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using Terse.Neural.Checkpoints;

namespace Terse.Tests.Neural.Checkpoints;

/// <summary>
/// The reader against random and mutated files: every input must either parse into tensors that can
/// all be read, or fail with <see cref="InvalidDataException"/>; any other exception fails the test.
/// </summary>
public class SafetensorsFuzzTests
{
    private static byte[][] Seeds()
    {
        var random = new Random(5);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)random.NextDouble()).ToArray();
        return
        [
            Safetensors.Serialize([NamedTensor.FromFloat32("model.embed_tokens.weight", [4, 3], Values(12)), NamedTensor.FromFloat32("model.norm.weight", [3], Values(3), TensorDType.BF16)]),
            Safetensors.Serialize([NamedTensor.FromFloat32("a", [2, 2], Values(4), TensorDType.F16), new NamedTensor("ids", TensorDType.I64, [2], new byte[16]), new NamedTensor("flag", TensorDType.Bool, [], [1])],
                new Dictionary<string, string> { ["format"] = "pt" }),
            Safetensors.Serialize([NamedTensor.FromFloat32("empty", [0, 5], []), NamedTensor.FromFloat32("x", [1], Values(1), TensorDType.F64)]),
            Safetensors.Serialize([]),
        ];
    }

    /// <summary>True when the file parsed, false when it was rejected (its reason counted in <paramref name="reasons"/>).</summary>
    internal static bool MustParseOrReject(byte[] file, string what, Dictionary<string, int>? reasons = null)
    {
        try
        {
            using var reader = Safetensors.Open(file);
            foreach (var info in reader.Tensors)
            {
                var tensor = reader.Read(info.Name);
                Assert.Equal(info.ByteLength, tensor.Bytes.Length);
                if (info.DType.IsFloatingPoint())
                    Assert.Equal(info.ElementCount, reader.ReadFloat32(info.Name).Length);
            }
            return true;
        }
        catch (InvalidDataException e)
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
            CountReason(reasons, e.Message);
            return false;
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{what}: {e.GetType().Name}: {e.Message}\nfile: {Convert.ToHexString(file.AsSpan(0, Math.Min(file.Length, 400)))}\n{e}");
        }
    }

    /// <summary>Groups error messages by their wording, without the names and numbers that vary.</summary>
    internal static void CountReason(Dictionary<string, int>? reasons, string message)
    {
        if (reasons is null)
            return;
        string reason = System.Text.RegularExpressions.Regex.Replace(message, "'[^']*'|\\[[^\\]]*\\]|\\d+|\"[^\"]*\"|\\(.*\\)", "_");
        reasons[reason] = reasons.GetValueOrDefault(reason) + 1;
    }

    private static byte[] WithHeader(string header, int dataLength, Random random)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + json.Length + dataLength];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)json.Length);
        json.CopyTo(file, 8);
        random.NextBytes(file.AsSpan(8 + json.Length));
        return file;
    }

    [Fact]
    public void RandomBytesAreRejectedCleanly()
    {
        var random = new Random(1);
        for (int i = 0; i < 3000; i++)
        {
            var file = new byte[random.Next(0, 300)];
            random.NextBytes(file);
            if (file.Length >= 8 && random.Next(2) == 0)
                BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)random.Next(0, file.Length));
            MustParseOrReject(file, $"random case {i}");
        }
    }

    [Fact]
    public void ByteMutationsOfValidFilesAreParsedOrRejectedCleanly()
    {
        var random = new Random(2);
        var seeds = Seeds();
        var reasons = new Dictionary<string, int>();
        int parsed = 0;
        ulong[] interestingLengths = [0, 1, 7, 8, 9, 100_000_000, 100_000_001, (ulong)long.MaxValue, (ulong)long.MaxValue + 1, ulong.MaxValue];
        for (int i = 0; i < 6000; i++)
        {
            var file = new List<byte>(seeds[random.Next(seeds.Length)]);
            int mutations = random.Next(1, 5);
            for (int m = 0; m < mutations && file.Count > 0; m++)
            {
                int at = random.Next(file.Count);
                switch (random.Next(9))
                {
                    case 0: file[at] ^= (byte)(1 << random.Next(8)); break;
                    case 1: file[at] = (byte)random.Next(256); break;
                    case 2: file.Insert(at, (byte)random.Next(256)); break;
                    case 3: file.RemoveAt(at); break;
                    case 4: file.RemoveRange(at, file.Count - at); break;
                    case 5: file.AddRange(Enumerable.Repeat((byte)random.Next(256), random.Next(1, 20))); break;
                    case 6:
                        if (file.Count >= 8)
                        {
                            ulong current = BinaryPrimitives.ReadUInt64LittleEndian(file.ToArray());
                            ulong value = random.Next(2) == 0 ? interestingLengths[random.Next(interestingLengths.Length)] : current + (ulong)random.Next(-9, 10);
                            var bytes = BitConverter.GetBytes(value);
                            for (int b = 0; b < 8; b++)
                                file[b] = bytes[b];
                        }
                        break;
                    case 7: file[at] = (byte)"0123456789"[random.Next(10)]; break;
                    default: file.Insert(at, (byte)"{}[]:,\"-. e"[random.Next(11)]); break;
                }
            }
            if (MustParseOrReject(file.ToArray(), $"byte mutation case {i}", reasons))
                parsed++;
        }
        Assert.InRange(parsed, 100, 5900);
        Assert.True(reasons.Count >= 10, "distinct rejections: " + string.Join("\n", reasons.Keys));
    }

    private static readonly Func<Random, JsonNode?>[] OddValues =
    [
        _ => JsonValue.Create(-1),
        _ => JsonValue.Create(1.5),
        _ => JsonValue.Create(1e30),
        _ => JsonValue.Create(ulong.MaxValue),
        _ => JsonValue.Create((ulong)long.MaxValue + 1),
        _ => JsonValue.Create(4_294_967_296L),
        r => JsonValue.Create(r.Next(0, 64)),
        _ => JsonValue.Create("F32"),
        _ => JsonValue.Create("BF16"),
        _ => JsonValue.Create("F4"),
        _ => JsonValue.Create(""),
        _ => JsonValue.Create(true),
        _ => null,
        _ => new JsonArray(),
        _ => new JsonObject(),
        r => new JsonArray(JsonValue.Create(r.Next(0, 40)), JsonValue.Create(r.Next(0, 40))),
        r => new JsonArray(JsonValue.Create(0), JsonValue.Create(r.Next(0, 40)), JsonValue.Create(3)),
        _ => new JsonArray(JsonValue.Create(ulong.MaxValue), JsonValue.Create(ulong.MaxValue), JsonValue.Create(0)),
        _ => new JsonArray(JsonValue.Create(1L << 32), JsonValue.Create(1L << 32)),
        _ => new JsonArray(JsonValue.Create("2")),
        _ => new JsonObject { ["dtype"] = "F32", ["shape"] = new JsonArray(1), ["data_offsets"] = new JsonArray(0, 4) },
    ];

    private static List<JsonNode> Nodes(JsonNode root)
    {
        var nodes = new List<JsonNode> { root };
        for (int i = 0; i < nodes.Count; i++)
        {
            if (nodes[i] is JsonObject obj)
                nodes.AddRange(obj.Select(p => p.Value).OfType<JsonNode>());
            else if (nodes[i] is JsonArray array)
                nodes.AddRange(array.OfType<JsonNode>());
        }
        return nodes;
    }

    [Fact]
    public void StructuralMutationsOfHeadersAreParsedOrRejectedCleanly()
    {
        var random = new Random(3);
        var seeds = Seeds();
        var reasons = new Dictionary<string, int>();
        int parsed = 0;
        for (int i = 0; i < 4000; i++)
        {
            var seed = seeds[random.Next(seeds.Length)];
            int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(seed);
            int dataLength = seed.Length - 8 - headerLength;
            var root = JsonNode.Parse(Encoding.UTF8.GetString(seed, 8, headerLength))!;
            for (int m = random.Next(1, 4); m > 0; m--)
            {
                var nodes = Nodes(root);
                var target = nodes[random.Next(nodes.Count)];
                switch (random.Next(5))
                {
                    case 0 when target.Parent is JsonObject parent:
                        parent[target.GetPropertyName()] = OddValues[random.Next(OddValues.Length)](random);
                        break;
                    case 1 when target.Parent is JsonArray array:
                        array[target.GetElementIndex()] = OddValues[random.Next(OddValues.Length)](random);
                        break;
                    case 2 when target.Parent is JsonObject parent:
                        parent.Remove(target.GetPropertyName());
                        break;
                    case 3 when target is JsonObject obj:
                        obj[random.Next(2) == 0 ? "__metadata__" : "extra" + random.Next(3)] = OddValues[random.Next(OddValues.Length)](random);
                        break;
                    case 4 when target is JsonArray array:
                        array.Add(OddValues[random.Next(OddValues.Length)](random));
                        break;
                }
            }
            string header = root.ToJsonString();
            if (random.Next(8) == 0)
                header = header.Replace("{\"dtype\"", "{\"dtype\":\"F32\",\"dtype\"");
            int length = random.Next(4) == 0 ? Math.Max(0, dataLength + random.Next(-5, 6)) : dataLength;
            if (MustParseOrReject(WithHeader(header, length, random), $"structural case {i}: {header}", reasons))
                parsed++;
        }
        // The mutations must reach both outcomes and many distinct checks, or the campaign tests little.
        Assert.InRange(parsed, 100, 3900);
        Assert.True(reasons.Count >= 15, "distinct rejections: " + string.Join("\n", reasons.Keys));
    }
}
