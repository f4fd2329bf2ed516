using ILGPU;

namespace DenseGen.Kernels;

/// <summary>
/// BN-ReLU-Conv, forward and backward (float32, NCHW, no bias).
/// Version 1 (this file): direct convolution, one thread per output element (window clipped once, indices advanced
/// by addition); backward reductions one group per channel or weight, summed in float64 through shared memory.
/// Simple, correct on every backend, and kept as the baseline that version 2 (tiled implicit GEMM,
/// <c>ConvolutionKernels.Tiled.cs</c>) is compared with. The float64 references live in the tests; both versions are
/// checked against them.
/// </summary>
internal static partial class ConvolutionKernels
{
    /// <summary>
    /// out[n, OutOffset+co, oy, ox] = sum over ci, ky, kx of w[co, ci, ky, kx] * relu(bn(in[n, ci, iy, ix])), with
    /// BN-ReLU applied while loading (zero padding lies outside the BN-ReLU, as in PyTorch). One thread per output;
    /// the window is clipped to the image once, and indices advance by addition in the inner loops.
    /// </summary>
    public static void Forward(Index1D index, ConvShape s, ArrayView<float> input, ArrayView<float> weight, Prologue prologue, ArrayView<float> output)
    {
        int i = index;
        int ox = i % s.OutSize; i /= s.OutSize;
        int oy = i % s.OutSize; i /= s.OutSize;
        int co = i % s.OutChannels;
        int n = i / s.OutChannels;
        int k = s.Kernel, area = s.InSize * s.InSize;
        int y0 = oy * s.Stride - s.Padding, x0 = ox * s.Stride - s.Padding;
        int kyStart = y0 < 0 ? -y0 : 0, kyEnd = s.InSize - y0 < k ? s.InSize - y0 : k;
        int kxStart = x0 < 0 ? -x0 : 0, kxEnd = s.InSize - x0 < k ? s.InSize - x0 : k;
        int inChannel = n * s.InStride * area + y0 * s.InSize + x0;
        int w = co * s.InChannels * k * k;
        float sum = 0f;
        for (int ci = 0; ci < s.InChannels; ci++, inChannel += area, w += k * k)
        {
            float scale = prologue.Enabled != 0 ? prologue.Scale[ci] : 1f, shift = prologue.Enabled != 0 ? prologue.Shift[ci] : 0f;
            for (int ky = kyStart; ky < kyEnd; ky++)
            {
                int row = inChannel + ky * s.InSize, wRow = w + ky * k;
                for (int kx = kxStart; kx < kxEnd; kx++)
                {
                    float x = input[row + kx];
                    if (prologue.Enabled != 0) { x = x * scale + shift; x = x > 0f ? x : 0f; }
                    sum += x * weight[wRow + kx];
                }
            }
        }
        output[s.OutputIndex(n, co, oy, ox)] = sum;
    }

    /// <summary>dy at input element (n, ci, iy, ix): the transposed convolution of the output gradient.</summary>
    private static float InputGradient(ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, int n, int ci, int iy, int ix)
    {
        float sum = 0f;
        int outArea = s.OutSize * s.OutSize, weightStride = s.InChannels * s.Kernel * s.Kernel;
        for (int ky = 0; ky < s.Kernel; ky++)
        {
            int ty = iy + s.Padding - ky;
            if (ty < 0 || ty % s.Stride != 0) continue;
            int oy = ty / s.Stride;
            if (oy >= s.OutSize) continue;
            for (int kx = 0; kx < s.Kernel; kx++)
            {
                int tx = ix + s.Padding - kx;
                if (tx < 0 || tx % s.Stride != 0) continue;
                int ox = tx / s.Stride;
                if (ox >= s.OutSize) continue;
                int g = ((n * s.OutStride + s.OutOffset) * s.OutSize + oy) * s.OutSize + ox;
                int w = (ci * s.Kernel + ky) * s.Kernel + kx;
                for (int co = 0; co < s.OutChannels; co++, g += outArea, w += weightStride)
                    sum += dOut[g] * weight[w];
            }
        }
        return sum;
    }

    /// <summary>
    /// The gradient with respect to a plain input (no BN-ReLU before the conv): dIn[n, ci, y, x], written to a
    /// buffer with the input's layout. One thread per input element. Used by the transition's 1x1 conv, whose input
    /// is the already pooled BN-ReLU output.
    /// </summary>
    public static void BackwardInput(Index1D index, ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> dInput)
    {
        int i = index;
        int ix = i % s.InSize; i /= s.InSize;
        int iy = i % s.InSize; i /= s.InSize;
        int ci = i % s.InChannels;
        int n = i / s.InChannels;
        dInput[s.InputIndex(n, ci, iy, ix)] = InputGradient(s, dOut, weight, n, ci, iy, ix);
    }

    /// <summary>
    /// Backward through BN-ReLU into a shared-statistics tensor (DESIGN §4.5), one group per input channel ci:
    /// dA = dy * [bn(x) &gt; 0]; Grad += gamma * dA; DBeta[ci] = sum dA; DGamma[ci] = sum dA * xhat;
    /// S1[ci] += gamma * DBeta[ci]; S2[ci] += gamma * DGamma[ci]. Where this is the channel's last consumer
    /// (<see cref="BatchNormBackward.FinalizeCount"/>), the group then turns Grad, S1 and S2 into the gradient of its
    /// producer's output (<see cref="BatchNormKernels.Finalize"/>'s formula).
    /// </summary>
    public static void BackwardInputThroughBatchNorm(
        ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> input, Prologue prologue, BatchNormBackward bn)
    {
        int ci = Grid.IdxX;
        double sumA = 0, sumAX = 0;
        BackwardInputThroughBatchNormPart(s, dOut, weight, input, prologue, bn, ci, Group.IdxX, Group.DimX, ref sumA, ref sumAX);
        BatchNormKernels.FinishChannelInGroup(bn, s.InputLayout, input, ci, sumA, sumAX);
    }

    internal static void BackwardInputThroughBatchNormPart(
        ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> input, Prologue prologue, BatchNormBackward bn, int ci, int thread, int threads, ref double sumA, ref double sumAX)
    {
        float gamma = bn.Gamma[ci], mean = bn.Mean[ci], invStd = bn.InvStd[ci];
        int area = s.InSize * s.InSize;
        for (int n = 0; n < s.Batch; n++)
        for (int p = thread; p < area; p += threads)
        {
            int iy = p / s.InSize, ix = p - iy * s.InSize;
            int at = (n * s.InStride + ci) * area + p;
            float x = input[at];
            if (x * prologue.Scale[ci] + prologue.Shift[ci] <= 0f) { BatchNormKernels.Blocked(bn, at); continue; } // ReLU mask: no gradient
            float dA = InputGradient(s, dOut, weight, n, ci, iy, ix);
            BatchNormKernels.Accumulate(bn, at, x, dA, gamma, mean, invStd, ref sumA, ref sumAX);
        }
    }

    /// <summary>
    /// dW[co, ci, ky, kx] = sum over n, oy, ox of dOut * relu(bn(in)) at the tap's input position, one group per
    /// weight element, summed in float64. The BN-ReLU input is recomputed, never stored.
    /// </summary>
    public static void BackwardWeights(ConvShape s, ArrayView<float> input, Prologue prologue, ArrayView<float> dOut, ArrayView<float> dWeight)
    {
        var shared = SharedMemory.Allocate<double>(GroupReduce.MaxGroupSize);
        int w = Grid.IdxX;
        double total = GroupReduce.Sum(shared, BackwardWeightsPart(s, input, prologue, dOut, w, Group.IdxX, Group.DimX));
        if (Group.IdxX == 0) dWeight[w] = (float)total;
    }

    /// <summary>One thread's share (rows thread, thread + threads, ...) of weight element w's gradient.</summary>
    internal static double BackwardWeightsPart(ConvShape s, ArrayView<float> input, Prologue prologue, ArrayView<float> dOut, int w, int thread, int threads)
    {
        int kx = w % s.Kernel, ky = w / s.Kernel % s.Kernel;
        int ci = w / (s.Kernel * s.Kernel) % s.InChannels, co = w / (s.Kernel * s.Kernel * s.InChannels);
        // Threads take whole output rows (n, oy), so the inner loop runs along x without divisions.
        double sum = 0;
        int rows = s.Batch * s.OutSize, inArea = s.InSize * s.InSize;
        float scale = prologue.Enabled != 0 ? prologue.Scale[ci] : 1f, shift = prologue.Enabled != 0 ? prologue.Shift[ci] : 0f;
        for (int r = thread; r < rows; r += threads)
        {
            int n = r / s.OutSize, oy = r - n * s.OutSize;
            int iy = oy * s.Stride - s.Padding + ky;
            if (iy < 0 || iy >= s.InSize) continue;
            int inRow = (n * s.InStride + ci) * inArea + iy * s.InSize;
            int outRow = ((n * s.OutStride + s.OutOffset + co) * s.OutSize + oy) * s.OutSize;
            for (int ox = 0; ox < s.OutSize; ox++)
            {
                int ix = ox * s.Stride - s.Padding + kx;
                if (ix < 0 || ix >= s.InSize) continue;
                float x = input[inRow + ix];
                if (prologue.Enabled != 0) { x = x * scale + shift; x = x > 0f ? x : 0f; }
                sum += dOut[outRow + ox] * x;
            }
        }
        return sum;
    }
}
