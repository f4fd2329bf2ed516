using System;
using System.Diagnostics;
using System.Linq;
using DenseGen.Data;
using DenseGen.Execution;
using DenseGen.Model;

namespace DenseGen.Training;

/// <summary>
/// The training loop: seeded shuffling, per-channel normalisation, optional CIFAR augmentation, batches of the
/// session's size, the paper's learning-rate schedule, evaluation after every epoch, and a stop naming the step and tensor when the loss or a
/// gradient stops being finite.
/// </summary>
public sealed class Trainer
{
    private readonly DenseNetSession _session;
    private readonly float[] _mean, _std, _zero;

    /// <summary>Prepares training; normalisation statistics come from <paramref name="train"/>.</summary>
    public Trainer(DenseNetSession session, ImageSet train, ImageSet test)
    {
        _session = session;
        Train = train;
        Test = test;
        var model = session.Model;
        foreach (var set in new[] { train, test })
            if (set.Channels != model.InputChannels || set.Size != model.InputSize || set.Classes > model.Classes)
                throw new ArgumentException($"{set.Source}: images are {set.Channels}x{set.Size}x{set.Size} with {set.Classes} classes, " +
                                            $"but {model.Name} takes {model.InputChannels}x{model.InputSize}x{model.InputSize} with {model.Classes} classes.");
        (_mean, _std) = train.ChannelStatistics();
        _zero = _mean.Select((m, c) => -m / _std[c]).ToArray(); // a black pixel after normalisation: the padding
    }

    /// <summary>The training set.</summary>
    public ImageSet Train { get; }

    /// <summary>The test set.</summary>
    public ImageSet Test { get; }

    /// <summary>Trains for <see cref="TrainingOptions.Epochs"/> epochs; returns the last epoch's report.</summary>
    /// <exception cref="TrainingDivergedException">The loss or a gradient became NaN or infinite.</exception>
    public EpochReport Run(TrainingOptions options, Action<EpochReport>? onEpoch = null, Action<int, int, float>? onStep = null)
    {
        _session.InitializeParameters(options.Seed);
        int batch = _session.BatchSize, perImage = Train.Channels * Train.Size * Train.Size;
        int steps = Train.Count / batch; // the last partial batch is dropped, as PyTorch's drop_last
        if (steps == 0) throw new ArgumentException($"{Train.Source}: {Train.Count} images are fewer than one batch of {batch}.");
        var random = new Random(options.Seed);
        var order = Enumerable.Range(0, Train.Count).ToArray();
        var images = new float[batch * perImage];
        var labels = new int[batch];
        var plain = new float[perImage];
        EpochReport? report = null;
        int step = 0;
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            random.Shuffle(order);
            float lr = options.LearningRateAt(epoch - 1);
            var sgd = new SgdOptions(lr, options.Momentum, options.WeightDecay, Nesterov: true);
            var clock = Stopwatch.StartNew();
            double lossSum = 0;
            for (int s = 0; s < steps; s++)
            {
                step++;
                for (int i = 0; i < batch; i++)
                {
                    int index = order[s * batch + i];
                    if (options.Augment)
                    {
                        Normalize(Train, index, plain, 0);
                        Augmentation.PadCropFlip(plain, images.AsSpan(i * perImage, perImage), Train.Channels, Train.Size, _zero, random);
                    }
                    else Normalize(Train, index, images, i * perImage);
                    labels[i] = Train.Labels[index];
                }
                float loss = _session.ForwardBackward(images, labels);
                if (!float.IsFinite(loss) || !AllFinite(_session.GetGradients(), out _)) throw Diverged(epoch, step, loss, images);
                _session.Step(sgd);
                lossSum += loss;
                onStep?.Invoke(epoch, s + 1, loss);
            }
            double imagesPerSecond = steps * batch / clock.Elapsed.TotalSeconds;
            report = new EpochReport(epoch, lossSum / steps, Evaluate(Test), imagesPerSecond, lr);
            onEpoch?.Invoke(report);
        }
        return report!;
    }

    /// <summary>Top-1 accuracy in evaluation mode; a last partial batch is padded with zeros and its padding ignored.</summary>
    public double Evaluate(ImageSet set)
    {
        int batch = _session.BatchSize, perImage = set.Channels * set.Size * set.Size, classes = _session.Model.Classes;
        var images = new float[batch * perImage];
        int correct = 0;
        for (int start = 0; start < set.Count; start += batch)
        {
            int count = Math.Min(batch, set.Count - start);
            Array.Clear(images);
            for (int i = 0; i < count; i++) Normalize(set, start + i, images, i * perImage);
            var logits = _session.Forward(images, training: false);
            for (int i = 0; i < count; i++)
            {
                int best = 0;
                for (int k = 1; k < classes; k++) if (logits[i * classes + k] > logits[i * classes + best]) best = k;
                if (best == set.Labels[start + i]) correct++;
            }
        }
        return (double)correct / set.Count;
    }

    private void Normalize(ImageSet set, int index, float[] target, int offset)
    {
        int area = set.Size * set.Size;
        for (int c = 0; c < set.Channels; c++)
        {
            int from = (index * set.Channels + c) * area, to = offset + c * area;
            float mean = _mean[c], scale = 1f / (255f * _std[c]);
            for (int p = 0; p < area; p++) target[to + p] = set.Pixels[from + p] * scale - mean / _std[c];
        }
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
