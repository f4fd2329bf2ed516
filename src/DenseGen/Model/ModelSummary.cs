using System;
using System.Globalization;
using System.Linq;
using System.Text;

namespace DenseGen.Model;

/// <summary>Formats a model's layer table as text, in the spirit of torchsummary.</summary>
public static class ModelSummary
{
    /// <summary>The summary table of <paramref name="model"/>.</summary>
    public static string Format(ModelDescription model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var culture = CultureInfo.InvariantCulture;
        string[] header = ["#", "Layer", "Operation", "Output shape", "Params", "Mult-adds"];
        var rows = model.Layers.Select(layer => new[]
        {
            layer.Index.ToString(culture),
            layer.Name,
            Describe(layer),
            $"[{layer.OutputChannels}, {layer.OutputSize}, {layer.OutputSize}]",
            layer.Parameters.ToString("N0", culture),
            layer.MultiplyAdds.ToString("N0", culture),
        }).ToList();
        int[] widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        bool[] rightAligned = [true, false, false, false, true, true];

        var text = new StringBuilder();
        string Line(string[] cells) => string.Join("  ", cells.Select((c, i) => rightAligned[i] ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))).TrimEnd();
        string rule = new('-', widths.Sum() + 2 * (widths.Length - 1));
        text.AppendLine($"{model.Name} ({model.TypeName})");
        text.AppendLine($"Input [{model.InputChannels}, {model.InputSize}, {model.InputSize}] per image, {model.Classes} classes");
        text.AppendLine(rule);
        text.AppendLine(Line(header));
        text.AppendLine(rule);
        foreach (var row in rows) text.AppendLine(Line(row));
        text.AppendLine(rule);
        text.AppendLine(string.Create(culture, $"Trainable parameters:     {model.ParameterCount:N0}"));
        text.AppendLine(string.Create(culture, $"Running statistics:       {model.Layout.RunningStatisticsCount:N0}"));
        text.AppendLine(string.Create(culture, $"Mult-adds per image:      {model.MultiplyAddsPerImage:N0} ({model.MultiplyAddsPerImage / 1e9:F3} G)"));
        text.AppendLine(string.Create(culture, $"  as executed (pool before transition conv): {model.ExecutedMultiplyAddsPerImage:N0}"));
        text.AppendLine(string.Create(culture, $"Parameter memory (fp32):  {model.ParameterCount * 4 / (1024.0 * 1024.0):F2} MiB"));
        return text.ToString();
    }

    private static string Describe(LayerInfo layer) => layer.Kind switch
    {
        LayerKind.StemConvolution => $"Conv {KernelOf(layer)} {layer.InputChannels}->{layer.OutputChannels}",
        LayerKind.StemPool => "BN-ReLU-MaxPool3x3/2",
        LayerKind.Bottleneck => $"BN-ReLU-Conv1x1 {layer.InputChannels}->{layer.OutputChannels}",
        LayerKind.Composite => $"BN-ReLU-Conv3x3 {layer.InputChannels}->{layer.OutputChannels} @{layer.OutputChannelOffset}",
        LayerKind.Transition => $"BN-ReLU-Conv1x1-AvgPool {layer.InputChannels}->{layer.OutputChannels}",
        LayerKind.GlobalPool => "BN-ReLU-GlobalAvgPool",
        LayerKind.Classifier => $"Linear {layer.InputChannels}->{layer.OutputChannels}",
        _ => layer.Kind.ToString(),
    };

    private static string KernelOf(LayerInfo layer) => layer.OutputSize == layer.InputSize ? "3x3" : "7x7/2";
}
