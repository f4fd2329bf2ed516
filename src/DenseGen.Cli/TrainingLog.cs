using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using DenseGen.Training;

namespace DenseGen.Cli;

/// <summary>The record of a run: a CSV row per epoch and a PNG of the training curves, rewritten after every epoch.</summary>
internal static class TrainingLog
{
    public const string CsvHeader = "epoch,learning_rate,train_loss,train_error,test_loss,test_error,test_top5_error,images_per_second,seconds";

    public static void WriteCsv(string path, IReadOnlyList<EpochReport> history)
    {
        var text = new StringBuilder(CsvHeader).Append('\n');
        foreach (var r in history)
            text.Append(string.Join(",", new object[] { r.Epoch, r.LearningRate, r.TrainLoss, 1 - r.TrainAccuracy, r.TestLoss, r.TestError, r.TestTop5Error, r.ImagesPerSecond, r.Seconds }
                .Select(v => string.Format(CultureInfo.InvariantCulture, "{0:G6}", v)))).Append('\n');
        string temporary = path + ".tmp";
        File.WriteAllText(temporary, text.ToString());
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Loss (left axis) and error in percent (right axis) per epoch.</summary>
    public static void WritePlot(string path, string title, IReadOnlyList<EpochReport> history)
    {
        var plot = new ScottPlot.Plot();
        double[] epochs = history.Select(r => (double)r.Epoch).ToArray();
        void Line(double[] values, string label, bool right)
        {
            var line = plot.Add.Scatter(epochs, values);
            line.LegendText = label;
            if (right) line.Axes.YAxis = plot.Axes.Right;
        }
        Line(history.Select(r => r.TrainLoss).ToArray(), "train loss", false);
        Line(history.Select(r => r.TestLoss).ToArray(), "test loss", false);
        Line(history.Select(r => 100 * (1 - r.TrainAccuracy)).ToArray(), "train error (%)", true);
        Line(history.Select(r => 100 * r.TestError).ToArray(), "test error (%)", true);
        plot.Title(title);
        plot.Axes.Bottom.Label.Text = "epoch";
        plot.Axes.Left.Label.Text = "cross-entropy loss";
        plot.Axes.Right.Label.Text = "top-1 error (%)";
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        plot.SavePng(path, 900, 540);
    }
}
