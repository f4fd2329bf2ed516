using ILGPU;
using ILGPU.Algorithms;

namespace DenseGen.Kernels;

/// <summary>
/// The classifier and its loss: Linear (features [N, F] to logits [N, K]), softmax cross-entropy averaged over the
/// batch (PyTorch's CrossEntropyLoss), and their backward. Small: one thread per output, float64 sums over the batch.
/// </summary>
internal static class ClassifierKernels
{
    public static void LinearForward(Index1D index, int features, int classes, ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> logits)
    {
        int k = index % classes, n = index / classes;
        float sum = bias[k];
        for (int f = 0; f < features; f++) sum += input[n * features + f] * weight[k * features + f];
        logits[index] = sum;
    }

    /// <summary>
    /// loss[n] = logsumexp(logits[n]) - logits[n, label]; dLogits = (softmax - onehot) / N. Labels out of range give NaN.
    /// Single-precision exp and log: the double versions of ILGPU.Algorithms use local memory in PTX.
    /// </summary>
    public static void SoftmaxCrossEntropy(Index1D n, int batch, int classes, ArrayView<float> logits, ArrayView<int> labels, ArrayView<float> loss, ArrayView<float> dLogits)
    {
        int label = labels[n], row = n * classes;
        float max = logits[row];
        for (int k = 1; k < classes; k++) max = logits[row + k] > max ? logits[row + k] : max;
        float sum = 0f;
        for (int k = 0; k < classes; k++) sum += XMath.Exp(logits[row + k] - max);
        float logSum = XMath.Log(sum) + max;
        loss[n] = label >= 0 && label < classes ? logSum - logits[row + label] : float.NaN;
        for (int k = 0; k < classes; k++)
            dLogits[row + k] = (XMath.Exp(logits[row + k] - logSum) - (k == label ? 1f : 0f)) / batch;
    }

    public static void LinearBackwardInput(Index1D index, int features, int classes, ArrayView<float> dLogits, ArrayView<float> weight, ArrayView<float> dInput)
    {
        int f = index % features, n = index / features;
        float sum = 0f;
        for (int k = 0; k < classes; k++) sum += dLogits[n * classes + k] * weight[k * features + f];
        dInput[index] = sum;
    }

    /// <summary>dW[k, f] = sum over n of dLogits[n, k] * input[n, f]; the bias gradients are the column sums (f == features).</summary>
    public static void LinearBackwardParameters(Index1D index, int batch, int features, int classes, ArrayView<float> input, ArrayView<float> dLogits, ArrayView<float> dWeight, ArrayView<float> dBias)
    {
        int f = index % (features + 1), k = index / (features + 1);
        double sum = 0;
        for (int n = 0; n < batch; n++) sum += dLogits[n * classes + k] * (f == features ? 1f : input[n * features + f]);
        if (f == features) dBias[k] = (float)sum;
        else dWeight[k * features + f] = (float)sum;
    }
}
