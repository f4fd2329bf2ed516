using System;

namespace DenseGen.Training;

/// <summary>How the learning rate changes over the epochs.</summary>
public enum LearningRateSchedule
{
    /// <summary>The paper's: lr, lr/10 from 50% of the epochs, lr/100 from 75%.</summary>
    Step,
    /// <summary>Cosine annealing per epoch: lr * (1 + cos(pi * epoch / epochs)) / 2.</summary>
    Cosine,
}

/// <summary>
/// How to train: the paper's recipe by default (SGD, Nesterov momentum 0.9, weight decay 1e-4, learning rate 0.1
/// divided by 10 at 50% and 75% of the epochs).
/// </summary>
/// <param name="Epochs">Passes over the training set.</param>
/// <param name="LearningRate">Initial learning rate.</param>
/// <param name="Momentum">Nesterov momentum.</param>
/// <param name="WeightDecay">L2 penalty on every parameter.</param>
/// <param name="Seed">Seeds the initialisation, shuffling, augmentation and dropout: the same seed gives the same run on one device.</param>
/// <param name="Augment">The paper's CIFAR augmentation on training images: 4-pixel zero padding, random crop, horizontal flip.</param>
/// <param name="Schedule">The learning-rate schedule.</param>
/// <param name="CheckpointPath">Where to write a checkpoint after every epoch (atomically); null for none.</param>
/// <param name="Resume">Continue from <paramref name="CheckpointPath"/> if it exists, exactly where that run stopped.</param>
public sealed record TrainingOptions(int Epochs, float LearningRate = 0.1f, float Momentum = 0.9f, float WeightDecay = 1e-4f, int Seed = 0,
    bool Augment = false, LearningRateSchedule Schedule = LearningRateSchedule.Step, string? CheckpointPath = null, bool Resume = false)
{
    /// <summary>The learning rate of (0-based) <paramref name="epoch"/>.</summary>
    public float LearningRateAt(int epoch) => Schedule switch
    {
        LearningRateSchedule.Cosine => (float)(LearningRate * 0.5 * (1 + Math.Cos(Math.PI * epoch / Epochs))),
        _ => epoch >= 0.75 * Epochs ? LearningRate / 100 : epoch >= 0.5 * Epochs ? LearningRate / 10 : LearningRate,
    };
}

/// <summary>What one epoch did.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="LearningRate">The learning rate used.</param>
/// <param name="TrainLoss">Mean training loss over the epoch's batches (training mode).</param>
/// <param name="TrainAccuracy">Top-1 accuracy on the training batches as they were trained (training mode).</param>
/// <param name="TestLoss">Mean cross-entropy on the test set (evaluation mode, running statistics).</param>
/// <param name="TestAccuracy">Top-1 accuracy on the test set (evaluation mode).</param>
/// <param name="TestTop5Accuracy">Top-5 accuracy on the test set (1 when there are at most 5 classes).</param>
/// <param name="ImagesPerSecond">Training images per second over the epoch, data preparation included.</param>
/// <param name="Seconds">Wall-clock seconds of the epoch's training (without the evaluation).</param>
public sealed record EpochReport(int Epoch, float LearningRate, double TrainLoss, double TrainAccuracy, double TestLoss,
    double TestAccuracy, double TestTop5Accuracy, double ImagesPerSecond, double Seconds)
{
    /// <summary>Top-1 test error, the paper's measure.</summary>
    public double TestError => 1 - TestAccuracy;

    /// <summary>Top-5 test error.</summary>
    public double TestTop5Error => 1 - TestTop5Accuracy;
}

/// <summary>Per-channel normalisation of pixels scaled to [0, 1]: (x - Mean) / Std.</summary>
/// <param name="Mean">One mean per channel.</param>
/// <param name="Std">One standard deviation per channel.</param>
public sealed record Normalization(float[] Mean, float[] Std);

/// <summary>An evaluation pass.</summary>
/// <param name="Loss">Mean cross-entropy.</param>
/// <param name="Top1">Top-1 accuracy.</param>
/// <param name="Top5">Top-5 accuracy.</param>
public sealed record Evaluation(double Loss, double Top1, double Top5);
