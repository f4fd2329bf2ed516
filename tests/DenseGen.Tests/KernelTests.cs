using System;
using System.Linq;
using DenseGen.Kernels;
using ILGPU;
using Xunit;

namespace DenseGen.Tests;

/// <summary>
/// Each kernel against a plain float64 loop, on random inputs and odd shapes (batch 1 and 3, channel counts that
/// are no tile's multiple, 7x7 and 5x5 images, strides and paddings of the ImageNet stem, channel offsets inside
/// wider buffers). Outputs start as NaN, so an element a kernel forgets to write fails the test; elements a
/// kernel must not touch are checked to be still NaN.
/// </summary>
[Trait("Backend", "Device")]
public class KernelTests
{
    private const double Tolerance = 1e-4;

    // batch, in channels, in stride, size, out channels, out stride, out offset, kernel, stride, padding, prologue
    private static readonly System.Collections.Generic.Dictionary<string, (int, int, int, int, int, int, int, int, int, int, bool)> s_convCases = new()
    {
        ["dense layer 3x3: reads 5 of 7 channels, appends 3 at channel 2 of 6, batch 1, 7x7"] = (1, 5, 7, 7, 3, 6, 2, 3, 1, 1, true),
        ["bottleneck 1x1, batch 3, 5x5"] = (3, 4, 4, 5, 6, 6, 0, 1, 1, 0, true),
        // Images of 4 pixels: an 8-pixel step of the weight gradient's walk (PixelCursor) spans two images.
        ["1x1 on 2x2 images, batch 5"] = (5, 3, 3, 2, 4, 4, 0, 1, 1, 0, true),
        ["ImageNet stem 7x7 stride 2 padding 3 on the raw image, 11x11"] = (3, 3, 3, 11, 5, 5, 0, 7, 2, 3, false),
        ["3x3 into channel 3 of 5, batch 2, 5x5"] = (2, 6, 9, 5, 2, 5, 3, 3, 1, 1, true),
        // Version 4's 3x3 kernels (ConvolutionKernels.TapKind) with a stride: the strided backward-input gather.
        ["3x3 stride 2 padding 1: 5 -> 6 channels, batch 2, 9x9"] = (2, 5, 5, 9, 6, 6, 0, 3, 2, 1, true),
        // More than one tile in every direction, both tile shapes of the tiled version (35 and 70 rows take 16-row tiles,
        // 60 rows 32-row tiles) in each of its kernels, and two splits of the weight gradient (576 pixels).
        ["several tiles 3x3: reads 60 of 64 channels, appends 35 at channel 10 of 50, batch 4, 12x12"] = (4, 60, 64, 12, 35, 50, 10, 3, 1, 1, true),
        ["several tiles 1x1: 70 -> 60 channels, batch 3, 10x10"] = (3, 70, 70, 10, 60, 60, 0, 1, 1, 0, true),
        // 2,048 pixels: 32 weight-gradient splits in version 3, enough for its split sum's four-at-a-time loop.
        ["many weight-gradient splits 1x1: 8 -> 8 channels, batch 8, 16x16"] = (8, 8, 8, 16, 8, 8, 0, 1, 1, 0, true),
        // Growth convs for version 4's direct kernels: 12x12 takes two row tiles of 10 and 2 rows, 20 channels two full
        // chunks of 8 and a partial one; 32x32 (BC-100's first block) stages 204-element patches, 9 channels a chunk of 1.
        // The weight-gradient kernel (16-channel chunks, "growth" variant: about 4 groups) runs 2 splits of 3 tiles with
        // two chunks on the first, 4 splits of 4 tiles on the second, one split of 4 tiles and two output blocks on the third.
        // The input-gradient kernel reduces over 12 (8 + 4) or 28 (8 + 8 + 8 + 4) output channels into 16-channel chunks
        // of 20 (16 + 4), 9 and 40 (16 + 16 + 8) input channels.
        ["growth 3x3: reads 20 of 24 channels, appends 12 at channel 20 of 32, batch 3, 12x12"] = (3, 20, 24, 12, 12, 32, 20, 3, 1, 1, true),
        ["growth 3x3 on 32x32: 9 -> 12 channels, batch 2"] = (2, 9, 9, 32, 12, 12, 0, 3, 1, 1, true),
        // The 32-output growth kernel (DenseNet-121's k = 32), 28 of its 32 used: 14x14 takes row tiles of 9 and 5.
        ["growth 3x3, 32-output kernel: 40 -> 28 channels at channel 4 of 40, batch 2, 14x14"] = (2, 40, 40, 14, 28, 40, 4, 3, 1, 1, true),
    };

    /// <summary>Every convolution case with every variant this run checks (host, direct, tiled).</summary>
    public static TheoryData<string, string> ConvShapes
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (string variant in TestDevice.ConvolutionVariants)
                foreach (string name in s_convCases.Keys) data.Add(variant, name);
            return data;
        }
    }

    // Version 5's cases: each case with one band count per variant, rotating through 2, 3 and 4 bands (TensorCoreCases),
    // so that every band count meets every tap kind and split without running every case three times: the emulated mma
    // is slow on ILGPU's CPU accelerator.

    /// <summary>Every convolution case with version 5's tensor-core products, split and unsplit (<see cref="TensorCoreTheoryAttribute"/>).</summary>
    public static TheoryData<string, string> TensorCoreShapes => TensorCoreCases(ChecksTensorCoreProducts, ("tensor-cores-{0}", 0), ("tensor-cores-{0}-unsplit", 1));

    /// <summary>
    /// Every convolution case with version 5 unsplit, on the band count neither of <see cref="TensorCoreShapes"/>' variants
    /// gives it: the statistics of a split forward are summed by version 3's FinishForwardSplits, checked with every other version.
    /// </summary>
    public static TheoryData<string, string> UnsplitTensorCoreShapes => TensorCoreCases(ChecksTensorCoreProducts, ("tensor-cores-{0}-unsplit", 2));

    /// <summary>Every convolution case, the weight-gradient splits included, with version 5 (its weight gradients always split by pixels).</summary>
    public static TheoryData<string, string> TensorCoreWeightShapes => TensorCoreCases(_ => true, ("tensor-cores-{0}", 0));

    // The forward and input-gradient cases leave out two that check other products (many weight-gradient splits; the
    // 16-output growth kernel's 32x32 grid), every tap kind and split remaining.
    private static bool ChecksTensorCoreProducts(string name) =>
        !name.StartsWith("many weight-gradient splits", StringComparison.Ordinal) && !name.StartsWith("growth 3x3 on 32x32", StringComparison.Ordinal);

    /// <summary>The cases <paramref name="include"/> picks, with each variant (a format of its band count): case i on 2 + (i + offset) % 3 bands.</summary>
    private static TheoryData<string, string> TensorCoreCases(Func<string, bool> include, params (string Format, int Offset)[] variants)
    {
        var data = new TheoryData<string, string>();
        foreach (var (format, offset) in variants)
        {
            int i = 0;
            foreach (string name in s_convCases.Keys.Where(include)) data.Add(string.Format(System.Globalization.CultureInfo.InvariantCulture, format, 2 + (i++ + offset) % 3), name);
        }
        return data;
    }

    /// <summary>
    /// Version 5's input gradient through shared BN (3xTF32 tensor-core product, version 4's epilogue), split and unsplit,
    /// against float64: the gradient, S1/S2 of the open channels and the finalized ones.
    /// </summary>
    [Trait("Kernels", "Versions")]
    [TensorCoreTheory]
    [MemberData(nameof(TensorCoreShapes))]
    public void Tensor_core_convolution_backward_through_shared_batch_norm(string variant, string name) => Convolution_backward_through_shared_batch_norm(variant, name);

    /// <summary>Version 5's weight gradient (3xTF32 tensor-core product over a split's pixels, version 4's partials) against float64.</summary>
    [Trait("Kernels", "Versions")]
    [TensorCoreTheory]
    [MemberData(nameof(TensorCoreWeightShapes))]
    public void Tensor_core_convolution_backward_weights(string variant, string name) => Convolution_backward_weights(variant, name);

    /// <summary>
    /// Version 5's forward (2-, 3- and 4-band tiles, 3xTF32 on tensor cores; on ILGPU's CPU accelerator the mma is emulated from
    /// PTX's fragment layout) against the float64 reference, at the float32 kernels' tolerance.
    /// </summary>
    [Trait("Kernels", "Versions")]
    [TensorCoreTheory]
    [MemberData(nameof(TensorCoreShapes))]
    public void Tensor_core_convolution_forward(string variant, string name) => Convolution_forward(variant, name);

    /// <summary>As <see cref="Tensor_core_convolution_forward"/>, with the batch statistics its epilogue writes.</summary>
    [Trait("Kernels", "Versions")]
    [TensorCoreTheory]
    [MemberData(nameof(UnsplitTensorCoreShapes))]
    public void Tensor_core_convolution_forward_with_batch_statistics(string variant, string name) => Convolution_forward_with_batch_statistics(variant, name);

    private static (ConvShape Shape, bool Prologue) Case(string name)
    {
        var (n, ci, cs, size, co, os, oo, k, stride, pad, prologue) = s_convCases[name];
        return (Shape(n, ci, cs, size, co, os, oo, k, stride, pad), prologue);
    }

    private static ConvShape Shape(int n, int ci, int cs, int size, int co, int os, int oo, int k, int stride, int pad) => new()
    {
        Batch = n, InChannels = ci, InStride = cs, InSize = size, OutChannels = co, OutStride = os, OutOffset = oo,
        OutSize = (size + 2 * pad - k) / stride + 1, Kernel = k, Stride = stride, Padding = pad,
    };

    private static (int N, int Ci, int Cs, int Size, int Co, int Os, int K, int Stride, int Pad) Unpack(ConvShape s) =>
        (s.Batch, s.InChannels, s.InStride, s.InSize, s.OutChannels, s.OutStride, s.Kernel, s.Stride, s.Padding);

    /// <summary>relu(x * scale + shift) of the prologue, or x.</summary>
    private static double Pre(bool on, double x, double scale, double shift) => on ? Math.Max(0, x * scale + shift) : x;

    [Trait("Kernels", "Versions")]
    [Theory]
    [MemberData(nameof(ConvShapes))]
    public void Convolution_forward(string variant, string name)
    {
        using var h = new KernelHarness(1, variant);
        var (s, prologue) = Case(name);
        var (n, ci, cs, size, co, os, k, stride, pad) = Unpack(s);
        var input = h.Upload(h.Random(n * cs * size * size), out var x);
        var weight = h.Upload(h.Random(co * ci * k * k), out var w);
        var scale = h.Upload(h.Random(cs, 0.5, 1.5), out var sc);
        var shift = h.Upload(h.Random(cs, -0.5, 0.5), out var sh);
        var output = h.Poisoned(n * os * s.OutSize * s.OutSize);
        h.Kernels.ConvForward(s, input, weight, new Prologue { Scale = scale, Shift = shift, Enabled = prologue ? 1 : 0 }, output);
        var actual = h.Read(output);

        var expected = new double[s.OutputElements];
        int e = 0;
        for (int b = 0; b < n; b++)
        for (int o = 0; o < co; o++)
        for (int y = 0; y < s.OutSize; y++)
        for (int xx = 0; xx < s.OutSize; xx++, e++)
            for (int c = 0; c < ci; c++)
            for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
            {
                int iy = y * stride - pad + ky, ix = xx * stride - pad + kx;
                if (iy < 0 || iy >= size || ix < 0 || ix >= size) continue;
                expected[e] += Pre(prologue, x[s.InputIndex(b, c, iy, ix)], sc[c], sh[c]) * w[s.WeightIndex(o, c, ky, kx)];
            }
        var written = Enumerable.Range(0, n).SelectMany(b => Enumerable.Range(0, co).SelectMany(o =>
            Enumerable.Range(0, s.OutSize * s.OutSize).Select(p => s.OutputIndex(b, o, p / s.OutSize, p % s.OutSize)))).ToArray();
        NetworkTests.AssertClose("conv forward", expected, written.Select(i => actual[i]).ToArray(), Tolerance);
        AssertUntouched(actual, written);
    }

    /// <summary>
    /// A training forward's batch statistics of the channels the conv writes (computed in the tiled conv's epilogue,
    /// by a separate pass otherwise), against the float64 statistics of the conv's float64 output.
    /// </summary>
    [Trait("Kernels", "Versions")]
    [Theory]
    [MemberData(nameof(ConvShapes))]
    public void Convolution_forward_with_batch_statistics(string variant, string name)
    {
        using var h = new KernelHarness(11, variant);
        var (s, prologue) = Case(name);
        var (n, ci, cs, size, co, os, k, stride, pad) = Unpack(s);
        // Outputs far from zero in mean (input shifted): a float32 sum of squares would lose the variance.
        var input = h.Upload(h.Random(n * cs * size * size, 0.5, 1.5), out var x);
        var weight = h.Upload(h.Random(co * ci * k * k, 0, 1), out var w);
        var scale = h.Upload(h.Random(cs, 0.5, 1.5), out var sc);
        var shift = h.Upload(h.Random(cs, 0.5, 1), out var sh);
        var output = h.Poisoned(n * os * s.OutSize * s.OutSize);
        var mean = h.Poisoned(os);
        var variance = h.Poisoned(os);
        var invStd = h.Poisoned(os);
        h.Kernels.ConvForwardWithStatistics(s, input, weight, new Prologue { Scale = scale, Shift = shift, Enabled = prologue ? 1 : 0 }, output,
            new BatchStatistics { Mean = mean, Variance = variance, InvStd = invStd, Epsilon = 1e-5f });

        int area = s.OutSize * s.OutSize;
        var em = new double[co];
        var ev = new double[co];
        for (int o = 0; o < co; o++)
        {
            var values = new double[n * area];
            for (int b = 0; b < n; b++)
            for (int p = 0; p < area; p++)
            {
                int y = p / s.OutSize, xx = p % s.OutSize;
                double sum = 0;
                for (int c = 0; c < ci; c++)
                for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++)
                {
                    int iy = y * stride - pad + ky, ix = xx * stride - pad + kx;
                    if (iy < 0 || iy >= size || ix < 0 || ix >= size) continue;
                    sum += Pre(prologue, x[s.InputIndex(b, c, iy, ix)], sc[c], sh[c]) * w[s.WeightIndex(o, c, ky, kx)];
                }
                values[b * area + p] = sum;
            }
            em[o] = values.Average();
            ev[o] = values.Average(value => (value - em[o]) * (value - em[o]));
        }
        var m = h.Read(mean);
        var v = h.Read(variance);
        var istd = h.Read(invStd);
        var channels = Enumerable.Range(s.OutOffset, co).ToArray();
        NetworkTests.AssertClose("mean", em, channels.Select(c => m[c]).ToArray(), Tolerance);
        NetworkTests.AssertClose("variance", ev, channels.Select(c => v[c]).ToArray(), 1e-3);
        NetworkTests.AssertClose("invstd", ev.Select(e => 1 / Math.Sqrt(e + 1e-5)).ToArray(), channels.Select(c => istd[c]).ToArray(), 1e-3);
        AssertUntouched(m, channels);
        var actual = h.Read(output); // the conv's values are checked by Convolution_forward; here: all written
        var written = Enumerable.Range(0, n).SelectMany(b => Enumerable.Range(0, co).SelectMany(o =>
            Enumerable.Range(0, area).Select(p => s.OutputIndex(b, o, p / s.OutSize, p % s.OutSize))));
        Assert.All(written, i => Assert.False(float.IsNaN(actual[i])));
    }

    [Trait("Kernels", "Versions")]
    [Theory]
    [MemberData(nameof(ConvShapes))]
    public void Convolution_backward_weights(string variant, string name)
    {
        using var h = new KernelHarness(2, variant);
        var (s, prologue) = Case(name);
        var (n, ci, cs, size, co, os, k, stride, pad) = Unpack(s);
        var input = h.Upload(h.Random(n * cs * size * size), out var x);
        var scale = h.Upload(h.Random(cs, 0.5, 1.5), out var sc);
        var shift = h.Upload(h.Random(cs, -0.5, 0.5), out var sh);
        var dOut = h.Upload(h.Random(n * os * s.OutSize * s.OutSize), out var g);
        var dWeight = h.Poisoned(s.WeightElements);
        h.Kernels.ConvBackwardWeights(s, input, new Prologue { Scale = scale, Shift = shift, Enabled = prologue ? 1 : 0 }, dOut, dWeight);

        var expected = new double[s.WeightElements];
        for (int b = 0; b < n; b++)
        for (int o = 0; o < co; o++)
        for (int y = 0; y < s.OutSize; y++)
        for (int xx = 0; xx < s.OutSize; xx++)
            for (int c = 0; c < ci; c++)
            for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
            {
                int iy = y * stride - pad + ky, ix = xx * stride - pad + kx;
                if (iy < 0 || iy >= size || ix < 0 || ix >= size) continue;
                expected[s.WeightIndex(o, c, ky, kx)] += g[s.OutputIndex(b, o, y, xx)] * Pre(prologue, x[s.InputIndex(b, c, iy, ix)], sc[c], sh[c]);
            }
        NetworkTests.AssertClose("conv backward weights", expected, h.Read(dWeight), Tolerance);
    }

    /// <summary>The transposed convolution: dy[n, c, iy, ix] of the conv's (post-prologue) input.</summary>
    private static double[] InputGradient(ConvShape s, double[] g, double[] w)
    {
        var dy = new double[s.Batch * s.InStride * s.InSize * s.InSize];
        for (int b = 0; b < s.Batch; b++)
        for (int o = 0; o < s.OutChannels; o++)
        for (int y = 0; y < s.OutSize; y++)
        for (int xx = 0; xx < s.OutSize; xx++)
            for (int c = 0; c < s.InChannels; c++)
            for (int ky = 0; ky < s.Kernel; ky++)
            for (int kx = 0; kx < s.Kernel; kx++)
            {
                int iy = y * s.Stride - s.Padding + ky, ix = xx * s.Stride - s.Padding + kx;
                if (iy < 0 || iy >= s.InSize || ix < 0 || ix >= s.InSize) continue;
                dy[s.InputIndex(b, c, iy, ix)] += g[s.OutputIndex(b, o, y, xx)] * w[s.WeightIndex(o, c, ky, kx)];
            }
        return dy;
    }

    [Trait("Kernels", "Versions")]
    [Theory]
    [MemberData(nameof(ConvShapes))]
    public void Convolution_backward_input(string variant, string name)
    {
        using var h = new KernelHarness(3, variant);
        var (s, _) = Case(name);
        var (n, ci, cs, size, co, os, k, stride, pad) = Unpack(s);
        var dOut = h.Upload(h.Random(n * os * s.OutSize * s.OutSize), out var g);
        var weight = h.Upload(h.Random(s.WeightElements), out var w);
        var dInput = h.Poisoned(n * cs * size * size);
        h.Kernels.ConvBackwardInput(s, dOut, weight, dInput);
        var actual = h.Read(dInput);
        var expected = InputGradient(s, g, w);
        var written = Enumerable.Range(0, n).SelectMany(b => Enumerable.Range(0, ci).SelectMany(c =>
            Enumerable.Range(0, size * size).Select(p => s.InputIndex(b, c, p / size, p % size)))).ToArray();
        NetworkTests.AssertClose("conv backward input", written.Select(i => expected[i]).ToArray(), written.Select(i => actual[i]).ToArray(), Tolerance);
        AssertUntouched(actual, written);
    }

    /// <summary>
    /// A 1x1 conv on 10x10 images gathers 16-byte quads (TapKind.OneByOneQuads) from views that start 16 bytes into
    /// their buffer's alignment, and scalars from ones that do not (a 16-byte load there is an error on a GPU); both
    /// against the float64 references, forward, backward-input and weight gradient. The kernel that ran is read from the launch profile.
    /// </summary>
    [Trait("Kernels", "Versions")]
    [Theory]
    [InlineData(0, true)]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(4, true)]
    public void A_1x1_conv_reads_quads_from_an_aligned_view_and_scalars_from_a_misaligned_one(int offset, bool quads)
    {
        using var h = new KernelHarness(21, "bands-4-quads");
        var (s, _) = Case("several tiles 1x1: 70 -> 60 channels, batch 3, 10x10");
        var (n, ci, cs, size, co, os, _, _, _) = Unpack(s);
        int area = size * size;
        // The input and dY behind `offset` leading floats, so that their views start `offset` floats into a buffer.
        ArrayView<float> Behind(double[] values, out double[] rounded)
        {
            var view = h.Upload([.. new double[offset], .. values], out var all);
            rounded = all[offset..];
            return view.SubView(offset, values.Length);
        }
        var input = Behind(h.Random(n * cs * area), out var x);
        var weight = h.Upload(h.Random(co * ci), out var w);
        var scale = h.Upload(h.Random(cs, 0.5, 1.5), out var sc);
        var shift = h.Upload(h.Random(cs, -0.5, 0.5), out var sh);
        var output = h.Poisoned(n * os * area);
        var dOut = Behind(h.Random(n * os * area), out var g);
        var dInput = h.Poisoned(n * cs * area);
        var dWeight = h.Poisoned(s.WeightElements);

        h.Kernels.StartProfile();
        h.Kernels.ConvForward(s, input, weight, new Prologue { Scale = scale, Shift = shift, Enabled = 1 }, output);
        h.Kernels.ConvBackwardInput(s, dOut, weight, dInput);
        h.Kernels.ConvBackwardWeights(s, input, new Prologue { Scale = scale, Shift = shift, Enabled = 1 }, dOut, dWeight);
        var ran = h.Kernels.StopProfile().Select(p => p.Kernel).ToList();
        string kind = quads ? "Taps1x1Quads" : "Taps1x1,";
        Assert.Contains(ran, k => k.StartsWith("ConvolutionKernels.ForwardBanded<Bands4, " + kind, StringComparison.Ordinal));
        Assert.Contains(ran, k => (k + ",").StartsWith("ConvolutionKernels.BackwardInputBanded<Bands4, " + kind.TrimEnd(',') + ">,", StringComparison.Ordinal));
        Assert.Contains(ran, k => (k + ",").StartsWith("ConvolutionKernels.BackwardWeightsBanded<Bands4, " + kind.TrimEnd(',') + ">,", StringComparison.Ordinal));

        var expected = new double[n * os * area];
        for (int b = 0; b < n; b++)
        for (int o = 0; o < co; o++)
        for (int p = 0; p < area; p++)
            for (int c = 0; c < ci; c++)
                expected[s.OutputIndex(b, o, p / size, p % size)] += Pre(true, x[s.InputIndex(b, c, p / size, p % size)], sc[c], sh[c]) * w[s.WeightIndex(o, c, 0, 0)];
        NetworkTests.AssertClose("quads conv forward", expected, h.Read(output), Tolerance);
        var expectedInput = InputGradient(s, g, w);
        var written = Enumerable.Range(0, n).SelectMany(b => Enumerable.Range(0, ci).SelectMany(c =>
            Enumerable.Range(0, area).Select(p => s.InputIndex(b, c, p / size, p % size)))).ToArray();
        var actualInput = h.Read(dInput);
        NetworkTests.AssertClose("quads conv backward input", written.Select(i => expectedInput[i]).ToArray(), written.Select(i => actualInput[i]).ToArray(), Tolerance);
        var expectedWeights = new double[s.WeightElements];
        for (int b = 0; b < n; b++)
        for (int o = 0; o < co; o++)
        for (int p = 0; p < area; p++)
            for (int c = 0; c < ci; c++)
                expectedWeights[s.WeightIndex(o, c, 0, 0)] += g[s.OutputIndex(b, o, p / size, p % size)] * Pre(true, x[s.InputIndex(b, c, p / size, p % size)], sc[c], sh[c]);
        NetworkTests.AssertClose("quads conv backward weights", expectedWeights, h.Read(dWeight), Tolerance);
    }

    [Trait("Kernels", "Versions")]
    [Theory]
    [MemberData(nameof(ConvShapes))]
    public void Convolution_backward_through_shared_batch_norm(string variant, string name)
    {
        using var h = new KernelHarness(4, variant);
        var (s, _) = Case(name);
        var (n, ci, cs, size, co, os, k, stride, pad) = Unpack(s);
        var input = h.Upload(h.Random(n * cs * size * size), out var x);
        var weight = h.Upload(h.Random(s.WeightElements), out var w);
        var dOut = h.Upload(h.Random(n * os * s.OutSize * s.OutSize), out var g);
        var scale = h.Upload(h.Random(cs, 0.5, 1.5), out var sc);
        var shift = h.Upload(h.Random(cs, -0.5, 0.5), out var sh);
        var gamma = h.Upload(h.Random(cs, 0.5, 1.5), out var gm);
        var mean = h.Upload(h.Random(cs, -0.2, 0.2), out var mu);
        var invStd = h.Upload(h.Random(cs, 0.8, 1.2), out var istd);
        var grad = h.Upload(h.Random(n * cs * size * size), out var g0); // earlier consumers already accumulated here
        var s1 = h.Upload(h.Random(cs), out var s10);
        var s2 = h.Upload(h.Random(cs), out var s20);
        var dGamma = h.Poisoned(ci);
        var dBeta = h.Poisoned(ci);
        // This consumer reads the last half of its channels last: their gradient becomes the producer's in the same launch.
        int finalized = (ci + 1) / 2, open = ci - finalized;
        h.Kernels.ConvBackwardInputThroughBatchNorm(s, dOut, weight, input, new Prologue { Scale = scale, Shift = shift, Enabled = 1 },
            new BatchNormBackward { Gamma = gamma, Mean = mean, InvStd = invStd, Grad = grad, S1 = s1, S2 = s2, DGamma = dGamma, DBeta = dBeta, FinalizeCount = finalized });

        var dy = InputGradient(s, g, w);
        var expectedGrad = (double[])g0.Clone();
        var expectedS1 = (double[])s10.Clone();
        var expectedS2 = (double[])s20.Clone();
        var expectedDBeta = new double[ci];
        var expectedDGamma = new double[ci];
        for (int c = 0; c < ci; c++)
        {
            for (int b = 0; b < n; b++)
            for (int p = 0; p < size * size; p++)
            {
                int i = s.InputIndex(b, c, p / size, p % size);
                double dA = x[i] * sc[c] + sh[c] > 0 ? dy[i] : 0;
                expectedGrad[i] += gm[c] * dA;
                expectedDBeta[c] += dA;
                expectedDGamma[c] += dA * (x[i] - mu[c]) * istd[c];
            }
            expectedS1[c] += gm[c] * expectedDBeta[c];
            expectedS2[c] += gm[c] * expectedDGamma[c];
        }
        var finalizedChannels = Enumerable.Range(open, finalized).ToArray();
        ExpectFinalized(expectedGrad, x, mu, istd, expectedS1, expectedS2, finalizedChannels, n, cs, size * size);
        var actualGrad = h.Read(grad);
        var elements = Enumerable.Range(0, n).SelectMany(b => Enumerable.Range(0, ci).SelectMany(c => Enumerable.Range(0, size * size).Select(p => s.InputIndex(b, c, p / size, p % size)))).ToArray();
        NetworkTests.AssertClose("gradient accumulator, and the producer's gradient of the finalized channels", expectedGrad, actualGrad, Tolerance);
        NetworkTests.AssertClose("the finalized channels' elements alone", elements.Where(i => i / (size * size) % cs >= open).Select(i => expectedGrad[i]).ToArray(),
            elements.Where(i => i / (size * size) % cs >= open).Select(i => actualGrad[i]).ToArray(), Tolerance);
        NetworkTests.AssertClose("dbeta", expectedDBeta, h.Read(dBeta), Tolerance);
        NetworkTests.AssertClose("dgamma", expectedDGamma, h.Read(dGamma), Tolerance);
        // S1 and S2 of the channels still open (and those the conv does not read, untouched); the finalized ones' are spent.
        var open1 = h.Read(s1);
        var open2 = h.Read(s2);
        var kept = Enumerable.Range(0, cs).Where(c => c < open || c >= ci).ToArray();
        NetworkTests.AssertClose("S1", kept.Select(c => expectedS1[c]).ToArray(), kept.Select(c => open1[c]).ToArray(), Tolerance);
        NetworkTests.AssertClose("S2", kept.Select(c => expectedS2[c]).ToArray(), kept.Select(c => open2[c]).ToArray(), Tolerance);
    }

    /// <summary>
    /// The producer's side of the shared-statistics backward (DESIGN §4.5), in float64, in place on the channels a
    /// consumer read last: dx = invstd / M * (M * G - S1 - xhat * S2), M = batch x area, for buffers of
    /// <paramref name="stride"/> channels of <paramref name="area"/> pixels.
    /// </summary>
    private static void ExpectFinalized(double[] grad, double[] x, double[] mean, double[] invStd, double[] s1, double[] s2, int[] channels, int n, int stride, int area)
    {
        int m = n * area;
        foreach (int c in channels)
            for (int b = 0; b < n; b++)
                for (int p = 0; p < area; p++)
                {
                    int i = (b * stride + c) * area + p;
                    double xhat = (x[i] - mean[c]) * invStd[c];
                    grad[i] = invStd[c] / m * (m * grad[i] - s1[c] - xhat * s2[c]);
                }
    }

    [Theory]
    [InlineData(-1, 0f)]
    [InlineData(0, float.NaN)]
    [InlineData(4999, float.PositiveInfinity)]
    [InlineData(2500, float.NegativeInfinity)]
    public void Non_finite_flag(int at, float value)
    {
        using var h = new KernelHarness(9);
        var values = h.Random(5000, -3e38, 3e38); // large but finite: v - v must still be 0
        if (at >= 0) values[at] = value;
        var view = h.Upload(values);
        var flag = h.Upload([0.0]);
        h.Kernels.FlagNonFinite(values.Length, view, flag);
        Assert.Equal(at >= 0 ? 1f : 0f, h.Read(flag)[0]);
    }

    [Fact]
    [Trait("Kernels", "Versions")]
    public void A_gpu_kernel_set_names_every_kernel_after_its_method_and_counts_launches()
    {
        using var h = new KernelHarness(10, "tiled");
        var names = h.Kernels.Launchers.Select(l => l.Name).ToList();
        Assert.All(names, name => Assert.Matches(@"^\w+Kernels\.\w+$", name));
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.Contains("ConvolutionKernels.ForwardTiled", names);
        Assert.Contains("ConvolutionKernels.FinishChannelsFromTiles", names);
        var view = h.Upload(h.Random(10));
        long before = h.Kernels.Launches;
        h.Kernels.Zero(view);
        h.Kernels.Zero(view);
        Assert.Equal(before + 2, h.Kernels.Launches);
        Assert.All(h.Read(view), v => Assert.Equal(0f, v));
    }

    [Fact]
    [Trait("Kernels", "Versions")]
    public void A_profiled_training_step_accounts_for_every_launch()
    {
        var (device, kernels) = TestDevice.For("tiled");
        using var session = new DenseGen.Execution.DenseNetSession(SmallBC.Description, device, 2, DenseGen.Execution.ConvolutionVersion.Tiled);
        var images = Enumerable.Range(0, 2 * SmallBC.Description.InputChannels * SmallBC.Description.InputSize * SmallBC.Description.InputSize)
            .Select(i => (float)Math.Sin(i)).ToArray();
        long before = kernels.Launches;
        var profile = session.ProfileTrainingStep(images, [0, 1], new DenseGen.Execution.SgdOptions(0.1f));
        Assert.Equal(kernels.Launches - before, profile.Sum(p => p.Launches));
        Assert.Contains(profile, p => p.Kernel == "ConvolutionKernels.ForwardTiled");
        Assert.All(profile, p => Assert.True(p.Seconds > 0, p.Kernel));
        Assert.Equal(profile.OrderByDescending(p => p.Seconds).Select(p => p.Kernel), profile.Select(p => p.Kernel));
        Assert.Empty(kernels.StopProfile()); // the profile ended with the step
    }

    [Fact]
    public void A_session_checks_its_gradients_on_the_device()
    {
        using var session = SmallPlain.CreateSession(TestDevice.Instance, 2);
        var images = Enumerable.Range(0, 2 * 2 * 7 * 7).Select(i => (float)Math.Sin(i)).ToArray();
        session.ForwardBackward(images, [0, 1]);
        Assert.True(session.GradientsAreFinite());
        var parameters = session.GetParameters();
        parameters[SmallPlain.Layout["features.denseblock2.denselayer1.conv1.weight"].Offset] = float.NaN;
        session.SetParameters(parameters);
        session.ForwardBackward(images, [0, 1]);
        Assert.False(session.GradientsAreFinite());
        Assert.Contains(session.GetGradients(), v => !float.IsFinite(v)); // agrees with the host's view
    }

    [Theory]
    [InlineData(1, 7, 2, 5, 7)]
    [InlineData(3, 6, 0, 6, 5)]
    public void Statistics_of_a_channel_range_fold_into_their_readers(int n, int stride, int offset, int count, int size)
    {
        using var h = new KernelHarness(5);
        var range = new ChannelRange { Batch = n, Stride = stride, Offset = offset, Count = count, Size = size };
        // A mean far from zero: a float32 sum of squares would lose the variance here.
        var buffer = h.Upload(h.Random(n * stride * size * size, 99, 101), out var x);
        var mean = h.Poisoned(stride);
        var variance = h.Poisoned(stride);
        var invStd = h.Poisoned(stride);
        // Two readers folded in: gamma, beta, running mean and variance of reader j at j * 4 * stride + (0, 1, 2, 3) * stride.
        var parameters = h.Upload(h.Random(8 * stride, 0.5, 1.5), out var p);
        var running = h.Upload(h.Random(8 * stride, 0.5, 1.5), out var run);
        var scaleShift = h.Poisoned(8 * stride);
        var consumers = h.Upload(Enumerable.Range(0, 8).Select(i => i / 4 * 4 * stride + i % 4 * stride).ToArray());
        var fold = new BatchNormFold { Consumers = consumers, Count = 2, Parameters = parameters, Running = running, ScaleShift = scaleShift, Momentum = 0.1f, Unbias = 1.25f };
        h.Kernels.Statistics(h.Groups(count), range, buffer, mean, variance, invStd, 1e-5f, fold);
        var m = h.Read(mean);
        var v = h.Read(variance);
        int area = size * size, perChannel = n * area;
        var em = new double[count];
        var ev = new double[count];
        for (int c = 0; c < count; c++)
        {
            var values = Enumerable.Range(0, perChannel).Select(e => x[range.Index(c, e)]).ToArray();
            em[c] = values.Average();
            ev[c] = values.Average(value => (value - em[c]) * (value - em[c]));
        }
        NetworkTests.AssertClose("mean", em, m.Skip(offset).Take(count).ToArray(), 1e-6);
        NetworkTests.AssertClose("variance", ev, v.Skip(offset).Take(count).ToArray(), 1e-3);
        AssertUntouched(m, Enumerable.Range(offset, count).ToArray());

        // The fold, from the statistics as stored: scale = gamma * invstd, shift = beta - mean * scale, running = 0.9
        // running + 0.1 batch (the variance times the unbias factor), only at the range's channels of each reader.
        var readInvStd = h.Read(invStd);
        var folded = h.Read(scaleShift);
        var updated = h.Read(running);
        var expectedScaleShift = Enumerable.Repeat(double.NaN, 8 * stride).ToArray();
        var expectedRunning = (double[])run.Clone();
        for (int j = 0; j < 2; j++)
            for (int ch = offset; ch < offset + count; ch++)
            {
                int gamma = j * 4 * stride + ch, beta = gamma + stride, runningMean = gamma + 2 * stride, runningVariance = gamma + 3 * stride;
                double scale = p[gamma] * readInvStd[ch];
                expectedScaleShift[runningMean] = scale;
                expectedScaleShift[runningVariance] = p[beta] - m[ch] * scale;
                expectedRunning[runningMean] = 0.9 * run[runningMean] + 0.1 * m[ch];
                expectedRunning[runningVariance] = 0.9 * run[runningVariance] + 0.1 * v[ch] * 1.25;
            }
        for (int i = 0; i < folded.Length; i++)
            if (double.IsNaN(expectedScaleShift[i])) Assert.True(float.IsNaN(folded[i]), $"scale/shift element {i} was written outside the readers' channels");
        NetworkTests.AssertClose("folded scale and shift", expectedScaleShift.Where(e => !double.IsNaN(e)).ToArray(), folded.Where((_, i) => !double.IsNaN(expectedScaleShift[i])).ToArray(), 1e-5);
        NetworkTests.AssertClose("running statistics", expectedRunning, updated, 1e-6);
    }

    [Theory]
    [InlineData(1, 3, 7)]
    [InlineData(3, 5, 5)]
    [InlineData(4, 3, 48)] // GPU kernels: several chunks per channel in the backward (KernelSet.PoolChunks), also with 256-thread groups
    public void Pooling_forward_and_backward(int n, int channels, int size)
    {
        using var h = new KernelHarness(6);
        int stride = channels + 2, area = size * size;
        var input = h.Upload(h.Random(n * stride * area), out var x);
        var scale = h.Upload(h.Random(stride, 0.5, 1.5), out var sc);
        var shift = h.Upload(h.Random(stride, -0.3, 0.3), out var sh);
        var prologue = new Prologue { Scale = scale, Shift = shift, Enabled = 1 };
        double Y(int b, int c, int yy, int xx) => Pre(true, x[(b * stride + c) * area + yy * size + xx], sc[c], sh[c]);

        // Average pool 2x2 (floor), global average pool, max-pool 3x3/2 pad 1.
        int half = size / 2, pooled = (size - 1) / 2 + 1;
        var avg = new PoolShape { Batch = n, Channels = channels, InStride = stride, InSize = size, OutStride = channels, OutSize = half };
        var max = avg with { OutSize = pooled };
        var head = avg with { OutSize = 1 };
        var avgOut = h.Poisoned(n * channels * half * half);
        var maxOut = h.Poisoned(n * channels * pooled * pooled);
        var gapOut = h.Poisoned(n * channels);
        h.Kernels.AveragePoolForward(n * channels * half * half, avg, input, prologue, avgOut);
        h.Kernels.MaxPoolForward(n * channels * pooled * pooled, max, input, prologue, maxOut);
        h.Kernels.GlobalPoolForward(n * channels, head, input, prologue, gapOut);
        var eAvg = new double[n * channels * half * half];
        var eMax = new double[n * channels * pooled * pooled];
        var eGap = new double[n * channels];
        var argmax = new int[eMax.Length];
        for (int b = 0; b < n; b++)
        for (int c = 0; c < channels; c++)
        {
            for (int yy = 0; yy < half; yy++)
                for (int xx = 0; xx < half; xx++)
                    eAvg[((b * channels + c) * half + yy) * half + xx] = 0.25 * (Y(b, c, 2 * yy, 2 * xx) + Y(b, c, 2 * yy, 2 * xx + 1) + Y(b, c, 2 * yy + 1, 2 * xx) + Y(b, c, 2 * yy + 1, 2 * xx + 1));
            for (int yy = 0; yy < pooled; yy++)
                for (int xx = 0; xx < pooled; xx++)
                {
                    int o = ((b * channels + c) * pooled + yy) * pooled + xx;
                    eMax[o] = double.NegativeInfinity;
                    for (int ky = 2 * yy - 1; ky <= 2 * yy + 1; ky++)
                        for (int kx = 2 * xx - 1; kx <= 2 * xx + 1; kx++)
                            if (ky >= 0 && ky < size && kx >= 0 && kx < size && Y(b, c, ky, kx) > eMax[o]) { eMax[o] = Y(b, c, ky, kx); argmax[o] = ky * size + kx; }
                }
            eGap[b * channels + c] = Enumerable.Range(0, area).Average(p => Y(b, c, p / size, p % size));
        }
        NetworkTests.AssertClose("average pool", eAvg, h.Read(avgOut), Tolerance);
        NetworkTests.AssertClose("max pool", eMax, h.Read(maxOut), Tolerance);
        NetworkTests.AssertClose("global pool", eGap, h.Read(gapOut), Tolerance);

        // Backward of each through the shared-statistics BN: dA routed to the inputs, masked by the ReLU.
        var gamma = h.Upload(h.Random(stride, 0.5, 1.5), out var gm);
        var mean = h.Upload(h.Random(stride, -0.2, 0.2), out var mu);
        var invStd = h.Upload(h.Random(stride, 0.8, 1.2), out var istd);
        foreach (var (kind, shape, outputs) in new[] { ("average", avg, eAvg.Length), ("max", max, eMax.Length), ("global", head, eGap.Length) })
        {
            var dOut = h.Upload(h.Random(outputs), out var g);
            var grad = h.Upload(new double[n * stride * area]);
            var s1 = h.Upload(new double[stride]);
            var s2 = h.Upload(new double[stride]);
            var dGamma = h.Poisoned(channels);
            var dBeta = h.Poisoned(channels);
            // The last channels' gradient becomes the producer's in the same launch (a transition, norm5 or the stem reads
            // them last); the first channel stays open.
            int finalized = channels - 1;
            var bn = new BatchNormBackward { Gamma = gamma, Mean = mean, InvStd = invStd, Grad = grad, S1 = s1, S2 = s2, DGamma = dGamma, DBeta = dBeta, FinalizeCount = finalized };
            if (kind == "average") h.Kernels.AveragePoolBackward(h.Groups(channels), shape, dOut, input, prologue, bn);
            else if (kind == "max") h.Kernels.MaxPoolBackward(h.Groups(channels), shape, dOut, input, prologue, bn);
            else h.Kernels.GlobalPoolBackward(h.Groups(channels), shape, dOut, input, prologue, bn);

            var dy = new double[n * stride * area];
            for (int b = 0; b < n; b++)
            for (int c = 0; c < channels; c++)
            {
                int baseIn = (b * stride + c) * area;
                if (kind == "average")
                    for (int yy = 0; yy < half; yy++) for (int xx = 0; xx < half; xx++) for (int d = 0; d < 4; d++)
                        dy[baseIn + (2 * yy + d / 2) * size + 2 * xx + d % 2] += 0.25 * g[((b * channels + c) * half + yy) * half + xx];
                else if (kind == "max")
                    for (int o = 0; o < pooled * pooled; o++)
                        dy[baseIn + argmax[(b * channels + c) * pooled * pooled + o]] += g[(b * channels + c) * pooled * pooled + o];
                else
                    for (int p = 0; p < area; p++) dy[baseIn + p] += g[b * channels + c] / area;
            }
            var eGrad = new double[dy.Length];
            var eBeta = new double[channels];
            var eGamma = new double[channels];
            for (int b = 0; b < n; b++)
            for (int c = 0; c < channels; c++)
            for (int p = 0; p < area; p++)
            {
                int i = (b * stride + c) * area + p;
                double dA = x[i] * sc[c] + sh[c] > 0 ? dy[i] : 0;
                eGrad[i] = gm[c] * dA;
                eBeta[c] += dA;
                eGamma[c] += dA * (x[i] - mu[c]) * istd[c];
            }
            var eS1 = Enumerable.Range(0, stride).Select(c => c < channels ? gm[c] * eBeta[c] : 0).ToArray();
            var eS2 = Enumerable.Range(0, stride).Select(c => c < channels ? gm[c] * eGamma[c] : 0).ToArray();
            ExpectFinalized(eGrad, x, mu, istd, eS1, eS2, Enumerable.Range(channels - finalized, finalized).ToArray(), n, stride, area);
            NetworkTests.AssertClose($"{kind} pool backward accumulator, and the producer's gradient of the finalized channels", eGrad, h.Read(grad), Tolerance);
            var open1 = h.Read(s1);
            NetworkTests.AssertClose($"{kind} pool S1 of the open channel", [eS1[0]], [open1[0]], Tolerance);
            NetworkTests.AssertClose($"{kind} pool dbeta", eBeta, h.Read(dBeta), Tolerance);
            NetworkTests.AssertClose($"{kind} pool dgamma", eGamma, h.Read(dGamma), Tolerance);
        }
    }

    [Theory]
    [InlineData(1, 7, 3)]
    [InlineData(3, 13, 10)]
    public void Classifier_loss_and_their_backward(int n, int features, int classes)
    {
        using var h = new KernelHarness(7);
        var input = h.Upload(h.Random(n * features), out var x);
        var weight = h.Upload(h.Random(classes * features), out var w);
        var bias = h.Upload(h.Random(classes), out var bs);
        var labelValues = Enumerable.Range(0, n).Select(_ => h.NextInt(classes)).ToArray();
        var labels = h.Upload(labelValues);
        var logits = h.Poisoned(n * classes);
        var loss = h.Poisoned(n);
        var dLogits = h.Poisoned(n * classes);
        h.Kernels.LinearForward(n * classes, features, classes, input, weight, bias, logits);
        h.Kernels.SoftmaxCrossEntropy(n, n, classes, logits, labels, loss, dLogits);
        var z = new double[n * classes];
        for (int b = 0; b < n; b++) for (int k = 0; k < classes; k++) z[b * classes + k] = bs[k] + Enumerable.Range(0, features).Sum(f => x[b * features + f] * w[k * features + f]);
        NetworkTests.AssertClose("logits", z, h.Read(logits), Tolerance);
        var eLoss = new double[n];
        var eDz = new double[n * classes];
        for (int b = 0; b < n; b++)
        {
            double lse = Math.Log(Enumerable.Range(0, classes).Sum(k => Math.Exp(z[b * classes + k])));
            eLoss[b] = lse - z[b * classes + labelValues[b]];
            for (int k = 0; k < classes; k++) eDz[b * classes + k] = (Math.Exp(z[b * classes + k] - lse) - (k == labelValues[b] ? 1 : 0)) / n;
        }
        NetworkTests.AssertClose("loss", eLoss, h.Read(loss), Tolerance);
        var dz = h.Read(dLogits);
        NetworkTests.AssertClose("dlogits", eDz, dz, Tolerance);

        var dInput = h.Poisoned(n * features);
        var dWeight = h.Poisoned(classes * features);
        var dBias = h.Poisoned(classes);
        h.Kernels.LinearBackwardInput(n * features, features, classes, dLogits, weight, dInput);
        h.Kernels.LinearBackwardParameters(classes * (features + 1), n, features, classes, input, dLogits, dWeight, dBias);
        var g = dz.Select(v => (double)v).ToArray();
        var eIn = new double[n * features];
        var eW = new double[classes * features];
        var eB = new double[classes];
        for (int b = 0; b < n; b++)
            for (int k = 0; k < classes; k++)
            {
                eB[k] += g[b * classes + k];
                for (int f = 0; f < features; f++)
                {
                    eIn[b * features + f] += g[b * classes + k] * w[k * features + f];
                    eW[k * features + f] += g[b * classes + k] * x[b * features + f];
                }
            }
        NetworkTests.AssertClose("linear dinput", eIn, h.Read(dInput), Tolerance);
        NetworkTests.AssertClose("linear dweight", eW, h.Read(dWeight), Tolerance);
        NetworkTests.AssertClose("linear dbias", eB, h.Read(dBias), Tolerance);
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    public void Sgd_matches_pytorch(bool nesterov, bool firstStep)
    {
        using var h = new KernelHarness(8);
        const int count = 37;
        var p = h.Upload(h.Random(count), out var p0);
        var grad = h.Upload(h.Random(count), out var g);
        var buffer = h.Upload(h.Random(count), out var m0);
        h.Kernels.Sgd(count, p, grad, buffer, 0.1f, 0.9f, 1e-4f, nesterov ? 1 : 0, firstStep ? 1 : 0);
        var eP = new double[count];
        var eM = new double[count];
        for (int i = 0; i < count; i++)
        {
            double d = g[i] + 1e-4 * p0[i];
            eM[i] = firstStep ? d : 0.9 * m0[i] + d;
            eP[i] = p0[i] - 0.1 * (nesterov ? d + 0.9 * eM[i] : eM[i]);
        }
        NetworkTests.AssertClose("parameters", eP, h.Read(p), 1e-6);
        NetworkTests.AssertClose("momentum", eM, h.Read(buffer), 1e-6);
    }

    /// <summary>Every element outside <paramref name="written"/> still holds the NaN it started with.</summary>
    private static void AssertUntouched(float[] actual, int[] written)
    {
        var set = written.ToHashSet();
        for (int i = 0; i < actual.Length; i++)
            if (!set.Contains(i)) Assert.True(float.IsNaN(actual[i]), $"element {i} was written but lies outside the kernel's output");
    }
}

/// <summary>
/// A theory of version 5's tensor-core forward: it runs on CUDA and, emulated, on ILGPU's CPU accelerator (the host run's
/// versions); OpenCL has no mma instruction, so there it is skipped with that reason.
/// </summary>
public sealed class TensorCoreTheoryAttribute : TheoryAttribute
{
    public TensorCoreTheoryAttribute()
    {
        if (Environment.GetEnvironmentVariable("DENSEGEN_DEVICE") is { } device && device.StartsWith("opencl", StringComparison.Ordinal))
            Skip = "tensor-core forwards (version 5) run on CUDA, emulated on ILGPU's CPU accelerator; OpenCL has no mma instruction";
    }
}
