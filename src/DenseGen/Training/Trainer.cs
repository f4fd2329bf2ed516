using System;
using System.Collections.Generic;
using System.IO;
using System.Diagnostics;
using System.Linq;
using DenseGen.Data;
using DenseGen.Execution;
using DenseGen.Model;

namespace DenseGen.Training;

/// <summary>
/// The training loop: the paper's recipe (or a cosine schedule), batches prepared on CPU threads while the device
/// computes (<see cref="BatchPipeline"/>), evaluation after every epoch (loss, top-1, top-5), a checkpoint after every
/// epoch with exact resumption, and a stop naming the step and tensor when the loss or a gradient stops being finite.
/// </summary>
public sealed class Trainer
{
    private readonly DenseNetSession _session;

    /// <summary>
    /// Prepares training. Normalisation statistics come from <paramref name="train"/> unless
    /// <paramref name="normalization"/> gives them.
    /// </summary>
    public Trainer(DenseNetSession session, ImageSet train, ImageSet test, Normalization? normalization = null)
    {
        _session = session;
        Train = train;
        Test = test;
        var model = session.Model;
        foreach (var set in new[] { train, test })
            if (set.Channels != model.InputChannels || set.Size != model.InputSize || set.Classes > model.Classes)
                throw new ArgumentException($"{set.Source}: images are {set.Channels}x{set.Size}x{set.Size} with {set.Classes} classes, " +
                                            $"but {model.Name} takes {model.InputChannels}x{model.InputSize}x{model.InputSize} with {model.Classes} classes.");
        if (normalization is null)
        {
            var (mean, std) = train.ChannelStatistics();
            normalization = new Normalization(mean, std);
        }
        else if (normalization.Mean.Length != train.Channels || normalization.Std.Length != train.Channels || normalization.Std.Any(s => !(s > 0)))
            throw new ArgumentException($"The normalisation needs {train.Channels} means and {train.Channels} positive standard deviations.");
        Normalization = normalization;
    }

    /// <summary>The training set.</summary>
    public ImageSet Train { get; }

    /// <summary>The test set.</summary>
    public ImageSet Test { get; }

    /// <summary>The per-channel normalisation applied to every image.</summary>
    public Normalization Normalization { get; }

    /// <summary>
    /// Trains until <see cref="TrainingOptions.Epochs"/> epochs are done; returns every epoch's report (those of a
    /// resumed checkpoint included). With <see cref="TrainingOptions.Resume"/> and an existing checkpoint, continues
    /// from it: the same batches, dropout masks and steps as the uninterrupted run.
    /// </summary>
    /// <exception cref="TrainingDivergedException">The loss or a gradient became NaN or infinite.</exception>
    public IReadOnlyList<EpochReport> Run(TrainingOptions options, Action<EpochReport>? onEpoch = null, Action<int, int, float>? onStep = null)
    {
        var pipeline = new BatchPipeline(Train, _session.BatchSize, Normalization, options.Augment);
        int steps = pipeline.StepsPerEpoch;
        if (steps == 0) throw new ArgumentException($"{Train.Source}: {Train.Count} images are fewer than one batch of {_session.BatchSize}.");
        var history = new List<EpochReport>();
        if (options.Resume && options.CheckpointPath is { } resumeFrom && File.Exists(resumeFrom))
        {
            var checkpoint = Checkpoint.Load(resumeFrom, _session);
            if (checkpoint.Seed != options.Seed)
                throw new ArgumentException($"{resumeFrom} was written by a run with seed {checkpoint.Seed}, not {options.Seed}: pass --seed {checkpoint.Seed} to resume it.");
            history.AddRange(checkpoint.History);
        }
        else _session.InitializeParameters(options.Seed);

        int classes = _session.Model.Classes;
        for (int epoch = history.Count + 1; epoch <= options.Epochs; epoch++)
        {
            float lr = options.LearningRateAt(epoch - 1);
            var sgd = new SgdOptions(lr, options.Momentum, options.WeightDecay, Nesterov: true);
            var clock = Stopwatch.StartNew();
            double lossSum = 0;
            int correct = 0;
            int step = (epoch - 1) * steps;
            pipeline.RunEpoch(options.Seed, epoch, (s, batch) =>
            {
                step++;
                float loss = _session.ForwardBackward(batch.Images, batch.Labels);
                if (!float.IsFinite(loss) || !_session.GradientsAreFinite()) throw Diverged(epoch, step, loss, batch.Images);
                _session.Step(sgd);
                lossSum += loss;
                var logits = _session.GetLogits();
                for (int i = 0; i < batch.Labels.Length; i++) if (Rank(logits, i * classes, classes, batch.Labels[i]) == 0) correct++;
                onStep?.Invoke(epoch, s + 1, loss);
            });
            double seconds = clock.Elapsed.TotalSeconds;
            var test = Evaluate(Test);
            var report = new EpochReport(epoch, lr, lossSum / steps, (double)correct / (steps * _session.BatchSize), test.Loss, test.Top1, test.Top5,
                steps * _session.BatchSize / seconds, seconds);
            history.Add(report);
            if (options.CheckpointPath is { } path) Checkpoint.Save(path, _session, new Checkpoint(epoch, options.Seed, history));
            onEpoch?.Invoke(report);
        }
        return history;
    }

    /// <summary>Loss, top-1 and top-5 accuracy in evaluation mode; a last partial batch is padded with zeros and its padding ignored.</summary>
    public Evaluation Evaluate(ImageSet set)
    {
        int batch = _session.BatchSize, perImage = set.Channels * set.Size * set.Size, classes = _session.Model.Classes;
        var images = new float[batch * perImage];
        int top1 = 0, top5 = 0;
        double loss = 0;
        for (int start = 0; start < set.Count; start += batch)
        {
            int count = Math.Min(batch, set.Count - start);
            Array.Clear(images);
            for (int i = 0; i < count; i++) BatchPipeline.Normalize(set, start + i, Normalization, images, i * perImage);
            var logits = _session.Forward(images, training: false);
            for (int i = 0; i < count; i++)
            {
                int label = set.Labels[start + i], rank = Rank(logits, i * classes, classes, label);
                if (rank == 0) top1++;
                if (rank < 5) top5++;
                double max = double.NegativeInfinity, sum = 0;
                for (int k = 0; k < classes; k++) max = Math.Max(max, logits[i * classes + k]);
                for (int k = 0; k < classes; k++) sum += Math.Exp(logits[i * classes + k] - max);
                loss += Math.Log(sum) + max - logits[i * classes + label];
            }
        }
        return new Evaluation(loss / set.Count, (double)top1 / set.Count, (double)top5 / set.Count);
    }

    /// <summary>How many classes score higher than <paramref name="label"/> (ties count against it): 0 = top-1.</summary>
    private static int Rank(float[] logits, int row, int classes, int label)
    {
        int rank = 0;
        for (int k = 0; k < classes; k++)
            if (k != label && logits[row + k] >= logits[row + label]) rank++;
        return rank;
    }

    private static bool AllFinite(float[] values, out long firstBad)
    {
        for (long i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) { firstBad = i; return false; }
        firstBad = -1;
        return true;
    }

    private TrainingDivergedException Diverged(int epoch, int step, float loss, float[] images)
    {
        // Name the first layer whose forward output is not finite; if the forward is finite, the first parameter
        // whose gradient is not.
        string? layer = _session.LocateNonFinite(images);
        if (layer is not null)
            return new TrainingDivergedException(epoch, step, layer,
                $"Training diverged at epoch {epoch}, step {step}: the loss is {loss}, and the first layer whose output is not " +
                $"finite is {layer}. {(layer == "features.conv0" && !AllFinite(images, out _) ? "The input batch holds NaN or infinity: check the data." : "Lower the learning rate, or check the input data.")}");
        string tensor = "loss";
        if (!AllFinite(_session.GetGradients(), out long bad))
            tensor = _session.Model.Layout.Tensors.First(t => t.Storage == TensorStorage.Parameters && bad >= t.Offset && bad < t.Offset + t.Length).Name;
        return new TrainingDivergedException(epoch, step, tensor,
            $"Training diverged at epoch {epoch}, step {step}: the loss is {loss}" +
            (tensor == "loss" ? "." : $" and the gradient of {tensor} is not finite (every layer's output is finite).") +
            " Lower the learning rate, or check the input data.");
    }
}
