namespace DenseGen.Training;

/// <summary>
/// How to train: the paper's recipe by default (SGD, Nesterov momentum 0.9, weight decay 1e-4, learning rate 0.1
/// divided by 10 at 50% and 75% of the epochs).
/// </summary>
/// <param name="Epochs">Passes over the training set.</param>
/// <param name="LearningRate">Initial learning rate.</param>
/// <param name="Momentum">Nesterov momentum.</param>
/// <param name="WeightDecay">L2 penalty on every parameter.</param>
/// <param name="Seed">Seeds the initialisation, shuffling and augmentation: the same seed gives the same run on one device.</param>
/// <param name="Augment">The paper's CIFAR augmentation on training images: 4-pixel zero padding, random crop, horizontal flip.</param>
public sealed record TrainingOptions(int Epochs, float LearningRate = 0.1f, float Momentum = 0.9f, float WeightDecay = 1e-4f, int Seed = 0, bool Augment = false)
{
    /// <summary>The paper's step schedule: lr, lr/10 from 50% of the epochs, lr/100 from 75%.</summary>
    public float LearningRateAt(int epoch) =>
        epoch >= 0.75 * Epochs ? LearningRate / 100 : epoch >= 0.5 * Epochs ? LearningRate / 10 : LearningRate;
}

/// <summary>What one epoch did.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="TrainLoss">Mean training loss over the epoch's batches.</param>
/// <param name="TestAccuracy">Top-1 accuracy on the test set (evaluation mode, running statistics).</param>
/// <param name="ImagesPerSecond">Training images per second over the epoch.</param>
/// <param name="LearningRate">The learning rate used.</param>
public sealed record EpochReport(int Epoch, double TrainLoss, double TestAccuracy, double ImagesPerSecond, float LearningRate);
