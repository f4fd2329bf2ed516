using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using ILGPU;
using ILGPU.Runtime;

namespace DenseGen.Kernels.Host;

/// <summary>
/// BN-ReLU-Conv on the CPU, for stride-1 convolutions (every conv of a DenseNet except the ImageNet stem's).
/// Host version 1: the BN-ReLU'd input (or the output gradient) is first written once, zero-padded, to a scratch
/// buffer, so the inner loops need no bounds tests; then every tap of the kernel is one SIMD multiply-add along an
/// output row (<see cref="Vector{T}"/>, 8 floats with AVX2). Work is split over (image, output channel) pairs in the
/// forward, over input channels in the backward data (its batch-norm sums are per input channel), and over weight
/// pairs (co, ci) in the backward weights (summed per image in float32, over images in float64, like the GPU kernels).
/// Same arithmetic as <see cref="ConvolutionKernels"/>; the tests check both against the float64 reference.
/// </summary>
internal sealed unsafe class HostConvolution
{
    // One scratch per calling thread: sessions on one device may be driven from several threads (the tests do).
    [ThreadStatic] private static float[]? t_scratch;

    /// <summary>A pinned scratch of at least <paramref name="elements"/> floats, kept for the calling thread's next call.</summary>
    private static float* Scratch(long elements)
    {
        if (t_scratch is null || t_scratch.LongLength < elements)
            t_scratch = GC.AllocateUninitializedArray<float>(checked((int)Math.Max(elements, 1)), pinned: true);
        return (float*)Unsafe.AsPointer(ref t_scratch[0]);
    }

    internal static float* Pointer(ArrayView<float> view) => view.Length == 0 ? null : (float*)view.LoadEffectiveAddressAsPtr();

    /// <summary>
    /// Writes relu(bn(input)) of channels [0, s.InChannels) of every image into a zero-padded scratch
    /// [Batch, InChannels, P, P] with P = InSize + 2 Padding (plain copy when the prologue is off).
    /// </summary>
    private static float* PaddedInput(ConvShape s, float* input, Prologue prologue, out int padded)
    {
        int p = s.InSize + 2 * s.Padding, size = s.InSize, pad = s.Padding;
        padded = p;
        float* scratch = Scratch((long)s.Batch * s.InChannels * p * p);
        float* scale = prologue.Enabled != 0 ? Pointer(prologue.Scale) : null;
        float* shift = prologue.Enabled != 0 ? Pointer(prologue.Shift) : null;
        Parallel.For(0, s.Batch * s.InChannels, item =>
        {
            int n = item / s.InChannels, ci = item % s.InChannels;
            float* to = scratch + (long)item * p * p;
            float* from = input + ((long)n * s.InStride + ci) * size * size;
            if (pad > 0) new Span<float>(to, p * p).Clear();
            float a = scale == null ? 1f : scale[ci], b = shift == null ? 0f : shift[ci];
            for (int y = 0; y < size; y++)
            {
                float* row = to + (y + pad) * p + pad, src = from + y * size;
                if (scale == null) new ReadOnlySpan<float>(src, size).CopyTo(new Span<float>(row, size));
                else for (int x = 0; x < size; x++) { float v = src[x] * a + b; row[x] = v > 0f ? v : 0f; }
            }
        });
        return scratch;
    }

    /// <summary>dst[0..count) += w * src[0..count), with SIMD.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MultiplyAdd(float* dst, float* src, float w, int count)
    {
        int x = 0;
        if (count >= Vector<float>.Count)
        {
            var wv = new Vector<float>(w);
            for (; x <= count - Vector<float>.Count; x += Vector<float>.Count)
                Unsafe.Write(dst + x, Unsafe.Read<Vector<float>>(dst + x) + wv * Unsafe.Read<Vector<float>>(src + x));
        }
        for (; x < count; x++) dst[x] += w * src[x];
    }

    /// <summary>sum of a[i] * b[i] for i in [0, count), float32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(float* a, float* b, int count)
    {
        int x = 0;
        float sum = 0f;
        if (count >= Vector<float>.Count)
        {
            var acc = Vector<float>.Zero;
            for (; x <= count - Vector<float>.Count; x += Vector<float>.Count)
                acc += Unsafe.Read<Vector<float>>(a + x) * Unsafe.Read<Vector<float>>(b + x);
            sum = Vector.Sum(acc);
        }
        for (; x < count; x++) sum += a[x] * b[x];
        return sum;
    }

    /// <summary>Forward, stride 1: out[n, OutOffset + co] = sum over ci and taps of w * relu(bn(in)).</summary>
    public void Forward(ConvShape s, ArrayView<float> inputView, ArrayView<float> weightView, Prologue prologue, ArrayView<float> outputView)
    {
        float* input = Pointer(inputView), weight = Pointer(weightView), output = Pointer(outputView);
        float* act = PaddedInput(s, input, prologue, out int p);
        int o = s.OutSize, k = s.Kernel;
        Parallel.For(0, s.Batch * s.OutChannels, item =>
        {
            int n = item / s.OutChannels, co = item % s.OutChannels;
            float* dst = output + ((long)n * s.OutStride + s.OutOffset + co) * o * o;
            new Span<float>(dst, o * o).Clear();
            float* w = weight + (long)co * s.InChannels * k * k;
            for (int ci = 0; ci < s.InChannels; ci++)
            {
                float* plane = act + ((long)n * s.InChannels + ci) * p * p;
                if (k == 1 && p == o) { MultiplyAdd(dst, plane, *w++, o * o); continue; }
                for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++)
                {
                    float wv = *w++;
                    for (int y = 0; y < o; y++) MultiplyAdd(dst + y * o, plane + (y + ky) * p + kx, wv, o);
                }
            }
        });
    }

    /// <summary>Backward weights, stride 1: dW[co, ci, ky, kx] = sum over n, y, x of dOut * relu(bn(in)) at the tap.</summary>
    public void BackwardWeights(ConvShape s, ArrayView<float> inputView, Prologue prologue, ArrayView<float> dOutView, ArrayView<float> dWeightView)
    {
        float* input = Pointer(inputView), dOut = Pointer(dOutView), dWeight = Pointer(dWeightView);
        float* act = PaddedInput(s, input, prologue, out int p);
        int o = s.OutSize, k = s.Kernel;
        Parallel.For(0, s.OutChannels * s.InChannels, pair =>
        {
            int co = pair / s.InChannels, ci = pair % s.InChannels;
            for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
            {
                double total = 0;
                for (int n = 0; n < s.Batch; n++)
                {
                    float* g = dOut + ((long)n * s.OutStride + s.OutOffset + co) * o * o;
                    float* plane = act + ((long)n * s.InChannels + ci) * p * p;
                    float sum = 0f;
                    if (k == 1 && p == o) sum = Dot(g, plane, o * o);
                    else for (int y = 0; y < o; y++) sum += Dot(g + y * o, plane + (y + ky) * p + kx, o);
                    total += sum;
                }
                dWeight[((long)co * s.InChannels + ci) * k * k + ky * k + kx] = (float)total;
            }
        });
    }

    /// <summary>
    /// The output gradient of every image, zero-padded by k - 1 - Padding on each side, so that the input gradient is
    /// a plain stride-1 correlation with the flipped kernel.
    /// </summary>
    private static float* PaddedOutputGradient(ConvShape s, float* dOut, out int padded, out int pad)
    {
        pad = s.Kernel - 1 - s.Padding;
        int q = s.OutSize + 2 * pad, o = s.OutSize, border = pad;
        padded = q;
        float* scratch = Scratch((long)s.Batch * s.OutChannels * q * q);
        Parallel.For(0, s.Batch * s.OutChannels, item =>
        {
            int n = item / s.OutChannels, co = item % s.OutChannels;
            float* to = scratch + (long)item * q * q;
            float* from = dOut + ((long)n * s.OutStride + s.OutOffset + co) * o * o;
            if (border > 0) new Span<float>(to, q * q).Clear();
            for (int y = 0; y < o; y++)
                new ReadOnlySpan<float>(from + y * o, o).CopyTo(new Span<float>(to + (y + border) * q + border, o));
        });
        return scratch;
    }

    /// <summary>dIn[n, ci] as a plane of InSize x InSize into <paramref name="dst"/> (cleared here).</summary>
    private static void InputGradientPlane(ConvShape s, float* padded, int q, float* weight, int n, int ci, float* dst)
    {
        int h = s.InSize, k = s.Kernel;
        new Span<float>(dst, h * h).Clear();
        for (int co = 0; co < s.OutChannels; co++)
        {
            float* plane = padded + ((long)n * s.OutChannels + co) * q * q;
            float* w = weight + ((long)co * s.InChannels + ci) * k * k;
            if (k == 1 && q == h) { MultiplyAdd(dst, plane, w[0], h * h); continue; }
            for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
            {
                float wv = w[ky * k + kx];
                int fy = k - 1 - ky, fx = k - 1 - kx;
                for (int y = 0; y < h; y++) MultiplyAdd(dst + y * h, plane + (y + fy) * q + fx, wv, h);
            }
        }
    }

    /// <summary>Backward data into a plain input (the transition's pooled input), stride 1.</summary>
    public void BackwardInput(ConvShape s, ArrayView<float> dOutView, ArrayView<float> weightView, ArrayView<float> dInputView)
    {
        float* weight = Pointer(weightView), dInput = Pointer(dInputView);
        float* padded = PaddedOutputGradient(s, Pointer(dOutView), out int q, out _);
        int h = s.InSize;
        Parallel.For(0, s.Batch * s.InChannels, item =>
        {
            int n = item / s.InChannels, ci = item % s.InChannels;
            InputGradientPlane(s, padded, q, weight, n, ci, dInput + ((long)n * s.InStride + ci) * h * h);
        });
    }

    /// <summary>
    /// Backward data through BN-ReLU into a shared-statistics tensor, stride 1: per input channel (all images), the
    /// same accumulation as <see cref="ConvolutionKernels.BackwardInputThroughBatchNorm"/>.
    /// </summary>
    public void BackwardInputThroughBatchNorm(ConvShape s, ArrayView<float> dOutView, ArrayView<float> weightView, ArrayView<float> inputView, Prologue prologue, BatchNormBackward bn)
    {
        float* weight = Pointer(weightView), input = Pointer(inputView);
        float* padded = PaddedOutputGradient(s, Pointer(dOutView), out int q, out _);
        float* scale = Pointer(prologue.Scale), shift = Pointer(prologue.Shift);
        float* grad = Pointer(bn.Grad), gammas = Pointer(bn.Gamma), means = Pointer(bn.Mean), invStds = Pointer(bn.InvStd);
        bool overwrite = bn.Overwrite != 0;
        int h = s.InSize, area = h * h;
        Parallel.For(0, s.InChannels, () => new float[area], (ci, _, plane) =>
        {
            float gamma = gammas[ci], mean = means[ci], invStd = invStds[ci], a = scale[ci], b = shift[ci];
            double sumA = 0, sumAX = 0;
            fixed (float* dA = plane)
            {
                for (int n = 0; n < s.Batch; n++)
                {
                    InputGradientPlane(s, padded, q, weight, n, ci, dA);
                    long at = ((long)n * s.InStride + ci) * area;
                    for (int e = 0; e < area; e++)
                    {
                        float x = input[at + e];
                        if (x * a + b <= 0f) { if (overwrite) grad[at + e] = 0f; continue; } // ReLU mask: no gradient
                        grad[at + e] = (overwrite ? 0f : grad[at + e]) + gamma * dA[e];
                        sumA += dA[e];
                        sumAX += dA[e] * (x - mean) * invStd;
                    }
                }
            }
            BatchNormKernels.FinishChannel(bn, ci, sumA, sumAX);
            return plane;
        }, _ => { });
    }
}
