using ILGPU;

namespace DenseGen.Kernels;

/// <summary>
/// Batch normalisation with statistics shared by every consumer of a channel (DESIGN §4.2 and §4.5).
/// Version 1: statistics in a separate pass after the conv that wrote the channels, one group per channel,
/// float64 sums (a float32 sum of squares over 65,536 values loses the variance).
/// </summary>
internal static class BatchNormKernels
{
    /// <summary>
    /// Per channel of the range: batch mean, biased variance and 1/sqrt(var + eps), at the buffer's channel index, and
    /// the consumers' scale, shift and running statistics (<see cref="BatchNormFold"/>).
    /// </summary>
    public static void Statistics(ChannelRange r, ArrayView<float> buffer, ArrayView<float> mean, ArrayView<float> variance, ArrayView<float> invStd, float epsilon, BatchNormFold fold)
    {
        var shared = SharedMemory.Allocate<double>(GroupReduce.MaxGroupSize);
        int c = Grid.IdxX;
        double sum = 0, sumSquares = 0;
        StatisticsPart(r, buffer, c, Group.IdxX, Group.DimX, ref sum, ref sumSquares);
        double total = GroupReduce.Sum(shared, sum);
        double totalSquares = GroupReduce.Sum(shared, sumSquares);
        FinishStatistics(r, c, total, totalSquares, mean, variance, invStd, epsilon, fold, Group.IdxX, Group.DimX);
    }

    /// <summary>One thread's share of channel c's sum and sum of squares.</summary>
    internal static void StatisticsPart(ChannelRange r, ArrayView<float> buffer, int c, int thread, int threads, ref double sum, ref double sumSquares)
    {
        int area = r.Size * r.Size;
        for (int n = 0; n < r.Batch; n++)
        {
            int start = (n * r.Stride + r.Offset + c) * area;
            for (int p = thread; p < area; p += threads)
            {
                double x = buffer[start + p];
                sum += x;
                sumSquares += x * x;
            }
        }
    }

    /// <summary>
    /// Channel c's statistics from its sums (every statistics path ends here: the separate pass, the tiles' and the
    /// splits' finishing, the host's), then its consumers' scale, shift and running statistics from the float32 values
    /// stored (what a consumer read when each BN had its own launch). Called by every thread of the channel's group with
    /// the group's totals: <paramref name="thread"/> 0 writes the statistics, and the consumers are shared out among the
    /// <paramref name="threads"/> (a block's first channels have up to 65 in DenseNet-264; one after another they would
    /// be as many dependent round trips to memory).
    /// </summary>
    internal static void FinishStatistics(ChannelRange r, int c, double total, double totalSquares, ArrayView<float> mean, ArrayView<float> variance, ArrayView<float> invStd, float epsilon,
        BatchNormFold fold, int thread, int threads)
    {
        double m = total / r.PerChannel;
        double v = totalSquares / r.PerChannel - m * m;
        if (v < 0) v = 0;
        int at = r.Offset + c;
        float meanValue = (float)m, varianceValue = (float)v, invStdValue = (float)(1.0 / System.Math.Sqrt(v + epsilon));
        if (thread == 0)
        {
            mean[at] = meanValue;
            variance[at] = varianceValue;
            invStd[at] = invStdValue;
        }
        for (int j = thread; j < fold.Count; j += threads)
        {
            int gamma = fold.Consumers[4 * j] + at, beta = fold.Consumers[4 * j + 1] + at;
            int runningMean = fold.Consumers[4 * j + 2] + at, runningVariance = fold.Consumers[4 * j + 3] + at;
            // The prologue (scale at the running mean's place, shift at the running variance's).
            float a = fold.Parameters[gamma] * invStdValue;
            fold.ScaleShift[runningMean] = a;
            fold.ScaleShift[runningVariance] = fold.Parameters[beta] - meanValue * a;
            // PyTorch's update: running = (1 - momentum) running + momentum batch, with the unbiased variance.
            fold.Running[runningMean] = (1f - fold.Momentum) * fold.Running[runningMean] + fold.Momentum * meanValue;
            fold.Running[runningVariance] = (1f - fold.Momentum) * fold.Running[runningVariance] + fold.Momentum * varianceValue * fold.Unbias;
        }
    }

    /// <summary>Evaluation: the consumer's own running statistics.</summary>
    public static void ScaleShiftEvaluation(Index1D c, ArrayView<float> runningMean, ArrayView<float> runningVariance, ArrayView<float> gamma, ArrayView<float> beta, ArrayView<float> scale, ArrayView<float> shift, float epsilon)
    {
        float a = gamma[c] / (float)System.Math.Sqrt(runningVariance[c] + epsilon);
        scale[c] = a;
        shift[c] = beta[c] - runningMean[c] * a;
    }

    /// <summary>
    /// The producer's side of the shared-statistics backward, in place, for the channels a consumer's launch read last
    /// (<see cref="BatchNormBackward.FinalizeCount"/>), channel c: once every consumer of the range has accumulated, Grad becomes
    /// dx = invstd / M * (M * G - S1 - xhat * S2), the gradient of the producing conv's output. M = batch x height x width.
    /// The host's kernel set runs it after a consumer's backward; the GPU kernels apply it where they finish the channel
    /// (<see cref="FinishChannelInGroup(BatchNormBackward, ChannelRange, ArrayView{float}, int, double, double, int, int, bool)"/>).
    /// </summary>
    internal static void Finalize(ChannelRange layout, BatchNormBackward bn, ArrayView<float> buffer, int c)
    {
        float s1 = bn.S1[c], s2 = bn.S2[c];
        for (int e = 0; e < layout.PerChannel; e++) FinalizeElement(layout, c, e, buffer, bn, s1, s2);
    }

    /// <summary>Element e of channel c of <paramref name="layout"/> (offset 0) as <see cref="Finalize"/> turns it, with the channel's final S1 and S2.</summary>
    private static void FinalizeElement(ChannelRange layout, int c, int e, ArrayView<float> buffer, BatchNormBackward bn, float s1, float s2)
    {
        int at = layout.Index(c, e);
        float m = layout.PerChannel, invStd = bn.InvStd[c];
        float xhat = (buffer[at] - bn.Mean[c]) * invStd;
        bn.Grad[at] = invStd / m * (m * bn.Grad[at] - s1 - xhat * s2);
    }

    /// <summary>
    /// One element of a consumer's backward through BN-ReLU: dA (already masked by the ReLU) goes into the shared
    /// accumulator as gamma * dA, and into the channel's sums of dA and dA * xhat.
    /// </summary>
    internal static void Accumulate(BatchNormBackward bn, int at, float x, float dA, float gamma, float mean, float invStd, ref double sumA, ref double sumAX)
    {
        bn.Grad[at] = (bn.Overwrite != 0 ? 0f : bn.Grad[at]) + gamma * dA;
        sumA += dA;
        sumAX += dA * (x - mean) * invStd;
    }

    /// <summary>An element whose gradient the consumer's ReLU blocked: nothing to add, but a first consumer writes zero.</summary>
    internal static void Blocked(BatchNormBackward bn, int at)
    {
        if (bn.Overwrite != 0) bn.Grad[at] = 0f;
    }

    /// <summary>End of a consumer's per-channel backward: write its gamma/beta gradients and add to (or set) S1, S2.</summary>
    internal static void FinishChannel(BatchNormBackward bn, int c, double sumA, double sumAX)
    {
        float gamma = bn.Gamma[c];
        bn.DBeta[c] = (float)sumA;
        bn.DGamma[c] = (float)sumAX;
        bn.S1[c] = (bn.Overwrite != 0 ? 0f : bn.S1[c]) + (float)(gamma * sumA);
        bn.S2[c] = (bn.Overwrite != 0 ? 0f : bn.S2[c]) + (float)(gamma * sumAX);
    }

    /// <summary>
    /// Sums a per-channel backward's two partial sums over the group and finishes consumer channel c of
    /// <paramref name="layout"/> (offset 0, channels [0, Count) of the launch): where later consumers of the channel are
    /// still to come, thread 0 writes DBeta, DGamma, S1 and S2 (<see cref="FinishChannel"/>); where this consumer is its
    /// last (c among the last <see cref="BatchNormBackward.FinalizeCount"/>), thread 0 writes DBeta and DGamma (if
    /// <paramref name="writesParameters"/>: one group of those sharing the channel) and the group turns elements
    /// [begin, end) of the channel into the producer's gradient (<see cref="Finalize"/>'s formula on the same float32
    /// S1 and S2 <see cref="FinishChannel"/> would have stored; not stored here, as other groups read the old ones).
    /// </summary>
    internal static void FinishChannelInGroup(BatchNormBackward bn, ChannelRange layout, ArrayView<float> buffer, int c, double sumA, double sumAX, int begin, int end, bool writesParameters)
    {
        var sharedA = SharedMemory.Allocate<double>(GroupReduce.MaxGroupSize);
        var sharedAX = SharedMemory.Allocate<double>(GroupReduce.MaxGroupSize);
        double a = GroupReduce.Sum(sharedA, sumA), ax = GroupReduce.Sum(sharedAX, sumAX);
        if (c < layout.Count - bn.FinalizeCount)
        {
            if (Group.IdxX == 0) FinishChannel(bn, c, a, ax);
            return;
        }
        if (writesParameters && Group.IdxX == 0) { bn.DBeta[c] = (float)a; bn.DGamma[c] = (float)ax; }
        float gamma = bn.Gamma[c];
        float s1 = (bn.Overwrite != 0 ? 0f : bn.S1[c]) + (float)(gamma * a);
        float s2 = (bn.Overwrite != 0 ? 0f : bn.S2[c]) + (float)(gamma * ax);
        // The group's barriers (GroupReduce) made every thread's accumulation of this launch visible here.
        for (int e = begin + Group.IdxX; e < end; e += Group.DimX) FinalizeElement(layout, c, e, buffer, bn, s1, s2);
    }

    /// <summary>A whole channel finished by one group (<see cref="FinishChannelInGroup(BatchNormBackward, ChannelRange, ArrayView{float}, int, double, double, int, int, bool)"/>).</summary>
    internal static void FinishChannelInGroup(BatchNormBackward bn, ChannelRange layout, ArrayView<float> buffer, int c, double sumA, double sumAX) =>
        FinishChannelInGroup(bn, layout, buffer, c, sumA, sumAX, 0, layout.PerChannel, writesParameters: true);
}
