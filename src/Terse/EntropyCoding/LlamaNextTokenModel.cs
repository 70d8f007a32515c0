using Terse.Neural;
using Terse.Neural.Checkpoints;

namespace Terse.EntropyCoding;

/// <summary>
/// The engine's Llama model as the entropy coder's predictor. Every session starts with the BOS
/// token, as the model was trained, and feeds tokens one at a time through the KV cache
/// (<see cref="InferenceSession.Step(int)"/>) — or, when the coder refills its sliding context, in
/// one <see cref="InferenceSession.Prefill(ReadOnlySpan{int})"/>. Sessions run the engine's portable
/// arithmetic (<see cref="LlamaModel.CreatePortableSession"/>), whose logits are bit-identical
/// whatever the machine, thread count, matrix backend or prefill size — which is what lets a file be
/// decoded on another computer, or with other settings, than it was encoded with.
/// </summary>
public sealed class LlamaNextTokenModel : INextTokenModel
{
    private readonly LlamaModel model;
    private readonly byte[] identity;
    private readonly int bosToken;

    /// <param name="name">Shown in containers and errors (e.g. <c>stories260K</c>).</param>
    /// <param name="bosToken">The token every text starts from (1 for llama2.c models).</param>
    public LlamaNextTokenModel(LlamaModel model, string name, int bosToken = 1)
    {
        ArgumentNullException.ThrowIfNull(model);
        if ((uint)bosToken >= (uint)model.Config.VocabSize)
            throw new ArgumentOutOfRangeException(nameof(bosToken), bosToken, $"BOS must be inside the vocabulary (0..{model.Config.VocabSize - 1})");
        if (model.Config.MaxSequenceLength < 2)
            throw new ArgumentException("the model's sequence length leaves no room after BOS", nameof(model));
        this.model = model;
        this.bosToken = bosToken;
        Name = name;
        identity = model.ComputeIdentity();
    }

    /// <summary>
    /// Karpathy's stories260K TinyStories model (MIT), shipped inside the library and shared; pair it
    /// with <c>Llama2cTokenizer.Stories260K</c>.
    /// </summary>
    public static LlamaNextTokenModel Stories260K => EntropyCompression.ResolveModel("stories260K");

    /// <summary>Loads a llama2.c checkpoint; the name is the file name without extension.</summary>
    public static LlamaNextTokenModel LoadLlama2c(string path) =>
        new(Llama2cCheckpoint.Load(path), Path.GetFileNameWithoutExtension(path));

    public string Name { get; }
    public int VocabularySize => model.Config.VocabSize;

    /// <summary>The sequence length less the BOS position.</summary>
    public int MaxSessionTokens => model.Config.MaxSequenceLength - 1;

    /// <summary>SHA-256 over the configuration and every parameter (<see cref="LlamaModel.ComputeIdentity"/>).</summary>
    public ReadOnlySpan<byte> Identity => identity;

    public LlamaModel Model => model;

    public INextTokenSession CreateSession() => new Session(model.CreatePortableSession(), bosToken);

    /// <summary>The engine's fast arithmetic, which version-2 containers were coded with.</summary>
    public INextTokenSession CreateVersion2Session() => new Session(model.CreateSession(), bosToken);

    private sealed class Session(InferenceSession inner, int bosToken) : INextTokenSession
    {
        private bool started;

        public void Reset()
        {
            inner.Reset();
            started = false;
        }

        public ReadOnlySpan<float> NextLogits()
        {
            Start();
            return inner.Logits;
        }

        public void Accept(int token)
        {
            Start();
            inner.Step(token);
        }

        /// <summary>One batched prefill (with BOS if the session is fresh): the engine promises the same bits as stepping.</summary>
        public void Accept(ReadOnlySpan<int> tokens)
        {
            if (tokens.IsEmpty)
                return;
            if (started)
            {
                inner.Prefill(tokens);
                return;
            }
            int[] withBos = [bosToken, .. tokens];
            inner.Prefill(withBos);
            started = true;
        }

        public void Dispose() { }

        // BOS is fed lazily, so a reset costs nothing until the session is used.
        private void Start()
        {
            if (started)
                return;
            inner.Step(bosToken);
            started = true;
        }
    }
}
