using ILGPU;

namespace DenseGen.Kernels;

/// <summary>
/// BN-ReLU fused into the three poolings of a DenseNet: the transition's 2x2 average pool (which runs before the
/// transition's 1x1 conv: both are linear, so they commute, and the conv then costs a quarter), the ImageNet stem's
/// 3x3 stride-2 max-pool, and the head's global average pool. Forward one thread per output; backward chunks of each
/// channel's pixels in parallel, accumulating into the shared-statistics gradient (see <see cref="BatchNormBackward"/>),
/// then ConvolutionKernels.FinishChannelsFromTiles to finish each channel (the head's pool: one group per channel).
/// </summary>
internal static class PoolingKernels
{
    /// <summary>out[n, c, y, x] = mean of relu(bn(in)) over the 2x2 window (floor: an odd last row/column is dropped).</summary>
    public static void AveragePoolForward(Index1D index, PoolShape p, ArrayView<float> input, Prologue prologue, ArrayView<float> output)
    {
        int i = index;
        int x = i % p.OutSize; i /= p.OutSize;
        int y = i % p.OutSize; i /= p.OutSize;
        int c = i % p.Channels, n = i / p.Channels;
        float sum = prologue.Apply(c, input[p.InputIndex(n, c, 2 * y, 2 * x)]) + prologue.Apply(c, input[p.InputIndex(n, c, 2 * y, 2 * x + 1)])
                  + prologue.Apply(c, input[p.InputIndex(n, c, 2 * y + 1, 2 * x)]) + prologue.Apply(c, input[p.InputIndex(n, c, 2 * y + 1, 2 * x + 1)]);
        output[p.OutputIndex(n, c, y, x)] = 0.25f * sum;
    }

    /// <summary>
    /// Backward of the transition's average pool through BN-ReLU, split over <paramref name="chunks"/> groups per
    /// channel (grid = Channels x chunks, channel fastest; one group per channel, as version 1 had it, left most of a
    /// GPU idle: 20 ms of DenseNet-121's step on an H100 went to the stem's max-pool alone): each group writes its
    /// sums of dA and dA * xhat to partials[(chunk * Channels + c) * 2], and ConvolutionKernels.FinishChannelsFromTiles
    /// finishes the channels in a fixed order (deterministic).
    /// </summary>
    public static void AveragePoolBackwardThroughBatchNormChunks(PoolShape p, ArrayView<float> dOut, ArrayView<float> input, Prologue prologue, BatchNormBackward bn,
        int chunks, ArrayView<double> partials)
    {
        var shared = SharedMemory.Allocate<double>(GroupReduce.MaxGroupSize);
        int c = Grid.IdxX % p.Channels, chunk = Grid.IdxX / p.Channels;
        double sumA = 0, sumAX = 0;
        AveragePoolBackwardThroughBatchNormPart(p, dOut, input, prologue, bn, c, chunk * Group.DimX + Group.IdxX, chunks * Group.DimX, ref sumA, ref sumAX);
        WriteChunk(shared, sumA, sumAX, partials, (chunk * p.Channels + c) * 2);
    }

    /// <summary>
    /// The stem's max-pool backward split over chunks, as <see cref="AveragePoolBackwardThroughBatchNormChunks"/>, reading
    /// each window's first maximum from <paramref name="argmax"/> (<see cref="MaxPoolArgMax"/>).
    /// </summary>
    public static void MaxPoolBackwardThroughBatchNormChunks(PoolShape p, ArrayView<float> dOut, ArrayView<float> input, Prologue prologue, BatchNormBackward bn,
        ArrayView<byte> argmax, int chunks, ArrayView<double> partials)
    {
        var shared = SharedMemory.Allocate<double>(GroupReduce.MaxGroupSize);
        int c = Grid.IdxX % p.Channels, chunk = Grid.IdxX / p.Channels;
        double sumA = 0, sumAX = 0;
        MaxPoolBackwardThroughBatchNormPart(p, dOut, input, prologue, bn, argmax, c, chunk * Group.DimX + Group.IdxX, chunks * Group.DimX, ref sumA, ref sumAX);
        WriteChunk(shared, sumA, sumAX, partials, (chunk * p.Channels + c) * 2);
    }

    /// <summary>Sums a pair over the group (a fixed tree) and writes it to partials[at], partials[at + 1].</summary>
    private static void WriteChunk(ArrayView<double> shared, double sumA, double sumAX, ArrayView<double> partials, int at)
    {
        double a = GroupReduce.Sum(shared, sumA), ax = GroupReduce.Sum(shared, sumAX);
        if (Group.IdxX == 0) { partials[at] = a; partials[at + 1] = ax; }
    }

    internal static void AveragePoolBackwardThroughBatchNormPart(PoolShape p, ArrayView<float> dOut, ArrayView<float> input, Prologue prologue, BatchNormBackward bn, int c, int thread, int threads, ref double sumA, ref double sumAX)
    {
        float gamma = bn.Gamma[c], mean = bn.Mean[c], invStd = bn.InvStd[c];
        int area = p.InSize * p.InSize, count = p.Batch * area;
        for (int e = thread; e < count; e += threads)
        {
            int n = e / area, y = e % area / p.InSize, x = e % p.InSize;
            if (y / 2 >= p.OutSize || x / 2 >= p.OutSize) continue; // dropped by the floor
            int at = p.InputIndex(n, c, y, x);
            float v = input[at];
            if (v * prologue.Scale[c] + prologue.Shift[c] <= 0f) continue;
            float dA = 0.25f * dOut[p.OutputIndex(n, c, y / 2, x / 2)];
            BatchNormKernels.Accumulate(bn, at, v, dA, gamma, mean, invStd, ref sumA, ref sumAX);
        }
    }

    /// <summary>The first maximum of relu(bn(in)) in the 3x3 window (stride 2, padding 1) of output (oy, ox), as a flat y*size+x.</summary>
    private static int ArgMax(PoolShape p, ArrayView<float> input, Prologue prologue, int n, int c, int oy, int ox, out float best)
    {
        best = -1f;
        int at = -1;
        for (int ky = 0; ky < 3; ky++)
        {
            int y = 2 * oy - 1 + ky;
            if (y < 0 || y >= p.InSize) continue;
            for (int kx = 0; kx < 3; kx++)
            {
                int x = 2 * ox - 1 + kx;
                if (x < 0 || x >= p.InSize) continue;
                float v = prologue.Apply(c, input[p.InputIndex(n, c, y, x)]);
                if (v > best) { best = v; at = y * p.InSize + x; }
            }
        }
        return at;
    }

    /// <summary>ImageNet stem: max over the 3x3 stride-2 window (padding 1) of relu(bn(conv0)).</summary>
    public static void MaxPoolForward(Index1D index, PoolShape p, ArrayView<float> input, Prologue prologue, ArrayView<float> output)
    {
        int i = index;
        int x = i % p.OutSize; i /= p.OutSize;
        int y = i % p.OutSize; i /= p.OutSize;
        int c = i % p.Channels, n = i / p.Channels;
        ArgMax(p, input, prologue, n, c, y, x, out float best);
        output[p.OutputIndex(n, c, y, x)] = best;
    }

    /// <summary>
    /// Before the stem's max-pool backward on a GPU: each window's first maximum of relu(bn(in)) (<see cref="ArgMax"/>),
    /// as its place in the window, ky * 3 + kx, one byte per output (window index as the forward's output order). The
    /// backward then reads it once for each window that covers an element, where it found it again each time (an
    /// element lies in up to four windows of nine: the backward took 3.3 ms, 2.5 % of DenseNet-121's step, on an H200).
    /// </summary>
    public static void MaxPoolArgMax(Index1D index, PoolShape p, ArrayView<float> input, Prologue prologue, ArrayView<byte> argmax)
    {
        int i = index;
        int ox = i % p.OutSize; i /= p.OutSize;
        int oy = i % p.OutSize; i /= p.OutSize;
        int c = i % p.Channels, n = i / p.Channels;
        int at = ArgMax(p, input, prologue, n, c, oy, ox, out _);
        int y = at / p.InSize;
        argmax[index] = (byte)WindowPlace(y, at - y * p.InSize, oy, ox);
    }

    /// <summary>Where input (y, x) lies in the 3x3 window (stride 2, padding 1) of output (oy, ox): ky * 3 + kx.</summary>
    private static int WindowPlace(int y, int x, int oy, int ox) => (y - 2 * oy + 1) * 3 + x - 2 * ox + 1;

    /// <summary>
    /// dA of every element (y, x) of channel c the thread's share covers: the sum, over the windows that cover it and chose
    /// it as their first maximum, of their output gradient (window order: oy, then ox). Whether a window chose it comes from
    /// <paramref name="argmax"/> where given (<see cref="MaxPoolArgMax"/>), else from <see cref="ArgMax"/> (the host).
    /// </summary>
    internal static void MaxPoolBackwardThroughBatchNormPart(PoolShape p, ArrayView<float> dOut, ArrayView<float> input, Prologue prologue, BatchNormBackward bn,
        ArrayView<byte> argmax, int c, int thread, int threads, ref double sumA, ref double sumAX)
    {
        float gamma = bn.Gamma[c], mean = bn.Mean[c], invStd = bn.InvStd[c];
        int area = p.InSize * p.InSize, count = p.Batch * area;
        for (int e = thread; e < count; e += threads)
        {
            int n = e / area, y = e % area / p.InSize, x = e % p.InSize;
            int at = p.InputIndex(n, c, y, x);
            float v = input[at];
            if (v * prologue.Scale[c] + prologue.Shift[c] <= 0f) continue;
            // Gather from the (at most 2x2) windows that contain (y, x) and chose it as their maximum.
            float dA = 0f;
            for (int oy = (y + 1) / 2 - 1; oy <= (y + 1) / 2; oy++)
            {
                if (oy < 0 || oy >= p.OutSize || 2 * oy - 1 > y || 2 * oy + 1 < y) continue;
                for (int ox = (x + 1) / 2 - 1; ox <= (x + 1) / 2; ox++)
                {
                    if (ox < 0 || ox >= p.OutSize || 2 * ox - 1 > x || 2 * ox + 1 < x) continue;
                    bool chosen = argmax.Length > 0
                        ? argmax[((n * p.Channels + c) * p.OutSize + oy) * p.OutSize + ox] == WindowPlace(y, x, oy, ox)
                        : ArgMax(p, input, prologue, n, c, oy, ox, out _) == y * p.InSize + x;
                    if (chosen) dA += dOut[p.OutputIndex(n, c, oy, ox)];
                }
            }
            BatchNormKernels.Accumulate(bn, at, v, dA, gamma, mean, invStd, ref sumA, ref sumAX);
        }
    }

    /// <summary>Head: features[n, c] = mean over the image of relu(bn(in)). One thread per (n, c).</summary>
    public static void GlobalPoolForward(Index1D index, PoolShape p, ArrayView<float> input, Prologue prologue, ArrayView<float> features)
    {
        int c = index % p.Channels, n = index / p.Channels;
        float sum = 0f;
        for (int y = 0; y < p.InSize; y++)
            for (int x = 0; x < p.InSize; x++)
                sum += prologue.Apply(c, input[p.InputIndex(n, c, y, x)]);
        features[index] = sum / (p.InSize * p.InSize);
    }

    public static void GlobalPoolBackwardThroughBatchNorm(PoolShape p, ArrayView<float> dFeatures, ArrayView<float> input, Prologue prologue, BatchNormBackward bn)
    {
        int c = Grid.IdxX;
        double sumA = 0, sumAX = 0;
        GlobalPoolBackwardThroughBatchNormPart(p, dFeatures, input, prologue, bn, c, Group.IdxX, Group.DimX, ref sumA, ref sumAX);
        BatchNormKernels.FinishChannelInGroup(bn, p.InputLayout, input, c, sumA, sumAX);
    }

    internal static void GlobalPoolBackwardThroughBatchNormPart(PoolShape p, ArrayView<float> dFeatures, ArrayView<float> input, Prologue prologue, BatchNormBackward bn, int c, int thread, int threads, ref double sumA, ref double sumAX)
    {
        float gamma = bn.Gamma[c], mean = bn.Mean[c], invStd = bn.InvStd[c];
        int area = p.InSize * p.InSize, count = p.Batch * area;
        for (int e = thread; e < count; e += threads)
        {
            int n = e / area;
            int at = p.InputIndex(n, c, e % area / p.InSize, e % p.InSize);
            float v = input[at];
            if (v * prologue.Scale[c] + prologue.Shift[c] <= 0f) continue;
            float dA = dFeatures[n * p.Channels + c] / area;
            BatchNormKernels.Accumulate(bn, at, v, dA, gamma, mean, invStd, ref sumA, ref sumAX);
        }
    }
}
