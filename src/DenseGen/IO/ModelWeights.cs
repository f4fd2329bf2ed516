using System;
using System.Collections.Generic;
using System.Linq;
using DenseGen.Data;
using DenseGen.Execution;
using DenseGen.Model;

namespace DenseGen.IO;

/// <summary>
/// A session's parameters, BN running statistics and step counters as safetensors, under torchvision's state-dict
/// names (<c>features.denseblock1.denselayer1.norm1.weight</c>, ...), so torchvision's DenseNets load directly.
/// </summary>
public static class ModelWeights
{
    /// <summary>Saves the state dict (atomically).</summary>
    public static void Save(DenseNetSession session, string path, IReadOnlyDictionary<string, string>? metadata = null) =>
        SafeTensorsFile.Write(path, StateDict(session), metadata ?? new Dictionary<string, string> { ["format"] = "pt", ["model"] = session.Model.Name });

    /// <summary>The session's state dict under torchvision's names, in layout order.</summary>
    internal static IEnumerable<(string Name, IReadOnlyList<int> Shape, Array Values)> StateDict(DenseNetSession session)
    {
        var parameters = session.GetParameters();
        var running = session.GetRunningStatistics();
        int counter = 0;
        var tensors = session.Model.Layout.Tensors.Select(t => (t.Name, t.Shape, (Array)(t.Storage switch
        {
            TensorStorage.Parameters => parameters.AsSpan((int)t.Offset, (int)t.Length).ToArray(),
            TensorStorage.RunningStatistics => running.AsSpan((int)t.Offset, (int)t.Length).ToArray(),
            _ => new[] { session.BatchesTracked[counter++] },
        })));
        return tensors.ToList();
    }

    /// <summary>
    /// Loads a state dict into the session. Every problem is reported at once: missing names, unexpected names,
    /// shape mismatches. Float16, bfloat16 and float64 tensors are converted; num_batches_tracked is optional.
    /// </summary>
    /// <exception cref="DataFormatException">The file does not fit the model; the message lists every name at fault.</exception>
    public static void Load(DenseNetSession session, string path) => Load(session, SafeTensorsFile.Open(path), extra: _ => false);

    /// <summary>Loads the state dict from an open file; names for which <paramref name="extra"/> holds are someone else's.</summary>
    internal static void Load(DenseNetSession session, SafeTensorsFile file, Func<string, bool> extra)
    {
        string path = file.Path;
        var layout = session.Model.Layout;
        var problems = new List<string>();
        var missing = layout.Tensors.Where(t => t.Role != TensorRole.BatchesTracked && !file.Tensors.ContainsKey(t.Name)).Select(t => t.Name).ToList();
        var expected = layout.Tensors.Select(t => t.Name).ToHashSet();
        var unexpected = file.Tensors.Keys.Where(name => !expected.Contains(name) && !extra(name)).ToList();
        if (missing.Count > 0) problems.Add($"missing {missing.Count}: {string.Join(", ", missing.Take(20))}{(missing.Count > 20 ? ", ..." : "")}");
        if (unexpected.Count > 0) problems.Add($"unexpected {unexpected.Count}: {string.Join(", ", unexpected.Take(20))}{(unexpected.Count > 20 ? ", ..." : "")}");
        foreach (var t in layout.Tensors)
        {
            if (!file.Tensors.TryGetValue(t.Name, out var entry)) continue;
            if (!entry.Shape.Select(d => (int)d).SequenceEqual(t.Shape))
                problems.Add($"{t.Name} has shape [{string.Join(", ", entry.Shape)}], the model expects [{string.Join(", ", t.Shape)}]");
        }
        if (problems.Count > 0)
            throw new DataFormatException(path, 8, $"does not fit {session.Model.Name}: " + string.Join("; ", problems));

        var parameters = new float[layout.ParameterCount];
        var running = new float[layout.RunningStatisticsCount];
        int counter = 0;
        foreach (var t in layout.Tensors)
        {
            if (t.Storage == TensorStorage.Counters)
            {
                session.BatchesTracked[counter++] = !file.Tensors.TryGetValue(t.Name, out var c) ? 0
                    : c.Type == SafeTensorsType.I64 ? file.ReadInt64(t.Name)[0] : (long)file.ReadFloat32(t.Name)[0];
                continue;
            }
            var values = file.ReadFloat32(t.Name);
            values.CopyTo(t.Storage == TensorStorage.Parameters ? parameters.AsSpan((int)t.Offset) : running.AsSpan((int)t.Offset));
        }
        session.SetParameters(parameters);
        session.SetRunningStatistics(running);
    }
}
