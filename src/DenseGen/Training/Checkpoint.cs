using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using DenseGen.Data;
using DenseGen.Execution;
using DenseGen.IO;

namespace DenseGen.Training;

/// <summary>
/// A training checkpoint in safetensors: the state dict under torchvision's names (so the file also loads into
/// PyTorch with <c>strict=False</c>), one <c>optimizer.momentum.NAME</c> tensor per parameter, and in the metadata
/// the epoch reached, the run's seed (every random stream of epoch e is derived from seed and e, so the seed and the
/// epoch are the whole RNG state), the dropout stream's position and the history of epoch reports. Written
/// atomically: a run killed while writing leaves the previous checkpoint as it was.
/// </summary>
/// <param name="Epoch">Epochs completed.</param>
/// <param name="Seed">The run's seed.</param>
/// <param name="History">Reports of epochs 1..Epoch.</param>
public sealed record Checkpoint(int Epoch, int Seed, IReadOnlyList<EpochReport> History)
{
    /// <summary>The metadata's format tag.</summary>
    public const string Format = "densegen-checkpoint-1";

    private const string MomentumPrefix = "optimizer.momentum.";

    /// <summary>Writes the session's state and <paramref name="checkpoint"/> to <paramref name="path"/> (atomically).</summary>
    public static void Save(string path, DenseNetSession session, Checkpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(checkpoint);
        var state = session.GetOptimizerState();
        var momentum = session.Model.Layout.Tensors.Where(t => t.Storage == Model.TensorStorage.Parameters)
            .Select(t => (MomentumPrefix + t.Name, t.Shape, (Array)state.Momentum.AsSpan((int)t.Offset, (int)t.Length).ToArray()));
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["model"] = session.Model.Name,
            ["epoch"] = checkpoint.Epoch.ToString(CultureInfo.InvariantCulture),
            ["seed"] = checkpoint.Seed.ToString(CultureInfo.InvariantCulture),
            ["momentum_started"] = state.MomentumStarted ? "1" : "0",
            ["dropout_seed"] = state.DropoutSeed.ToString(CultureInfo.InvariantCulture),
            ["dropout_position"] = state.ForwardCount.ToString(CultureInfo.InvariantCulture),
            ["history"] = JsonSerializer.Serialize(checkpoint.History),
        };
        SafeTensorsFile.Write(path, ModelWeights.StateDict(session).Concat(momentum), metadata);
    }

    /// <summary>Loads a checkpoint written by <see cref="Save"/> into <paramref name="session"/>.</summary>
    /// <exception cref="DataFormatException">The file is not a DenseGen checkpoint of this model; the message says what is wrong.</exception>
    public static Checkpoint Load(string path, DenseNetSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        var file = SafeTensorsFile.Open(path);
        string Meta(string key) => file.Metadata.TryGetValue(key, out var v) ? v
            : throw new DataFormatException(path, 8, $"the metadata has no '{key}': not a DenseGen checkpoint (format {Format}). Load plain weights with --weights instead.");
        if (Meta("format") != Format)
            throw new DataFormatException(path, 8, $"format '{Meta("format")}' is not {Format}: not a DenseGen checkpoint (plain weights load with ModelWeights.Load, or --weights).");
        if (Meta("model") != session.Model.Name)
            throw new DataFormatException(path, 8, $"the checkpoint is of {Meta("model")}, not {session.Model.Name}: pass the same --model as the run that wrote it.");
        ModelWeights.Load(session, file, extra: name => name.StartsWith(MomentumPrefix, StringComparison.Ordinal));

        var layout = session.Model.Layout;
        var momentum = new float[layout.ParameterCount];
        var missing = new List<string>();
        foreach (var t in layout.Tensors.Where(t => t.Storage == Model.TensorStorage.Parameters))
        {
            if (!file.Tensors.TryGetValue(MomentumPrefix + t.Name, out var entry)) { missing.Add(MomentumPrefix + t.Name); continue; }
            if (entry.Elements != t.Length) throw new DataFormatException(path, 8, $"{MomentumPrefix + t.Name} has {entry.Elements} values, the model's {t.Name} {t.Length}.");
            file.ReadFloat32(MomentumPrefix + t.Name).CopyTo(momentum.AsSpan((int)t.Offset));
        }
        if (missing.Count > 0) throw new DataFormatException(path, 8, $"missing {missing.Count} momentum tensors: {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", ..." : "")}");
        session.SetOptimizerState(new OptimizerState(momentum, Meta("momentum_started") == "1",
            ParseInt(path, "dropout_seed", Meta("dropout_seed")), (uint)ParseLong(path, "dropout_position", Meta("dropout_position"))));
        var history = JsonSerializer.Deserialize<List<EpochReport>>(Meta("history")) ?? [];
        int epoch = ParseInt(path, "epoch", Meta("epoch"));
        if (history.Count != epoch) throw new DataFormatException(path, 8, $"the history holds {history.Count} epochs, the checkpoint says {epoch}.");
        return new Checkpoint(epoch, ParseInt(path, "seed", Meta("seed")), history);
    }

    private static int ParseInt(string path, string key, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : throw new DataFormatException(path, 8, $"metadata '{key}' = '{value}' is not an integer.");

    private static long ParseLong(string path, string key, string value) =>
        long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : throw new DataFormatException(path, 8, $"metadata '{key}' = '{value}' is not an integer.");
}
