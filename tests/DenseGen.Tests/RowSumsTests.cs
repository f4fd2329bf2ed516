using System;
using DenseGen.Kernels;
using Xunit;

namespace DenseGen.Tests;

/// <summary>
/// Version 4's epilogue sums by warp shuffles and through the shared-memory tree add in the same order, so they give
/// the same bits: a run is repeatable across backends that choose differently. On the host and ILGPU's CPU accelerator
/// "bands-3-unsplit" takes shuffles and "bands-3-unsplit-tree" the tree (unsplit: split products sum elsewhere); on PoCL
/// both take the tree (it cannot compile shuffles).
/// </summary>
[Trait("Backend", "Device")]
[Trait("Kernels", "Versions")]
public class RowSumsTests
{
    // 60 output channels: two tiles of 3 bands (48 rows), the second partial; 300 pixels: three 128-pixel columns, the
    // last partial; 1x1 and 3x3 taps.
    private static ConvShape Shape(int kernel) => new()
    {
        Batch = 3, InChannels = 20, InStride = 24, InSize = 10, OutChannels = 60, OutStride = 64, OutOffset = 2,
        OutSize = 10, Kernel = kernel, Stride = 1, Padding = kernel / 2,
    };

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Forward_statistics_by_shuffles_and_by_the_tree_are_the_same_bits(int kernel)
    {
        var s = Shape(kernel);
        (float[] Output, float[] Mean, float[] Variance) Run(string variant)
        {
            using var h = new KernelHarness(21, variant);
            var input = h.Upload(h.Random(s.Batch * s.InStride * s.InSize * s.InSize, 0.5, 1.5));
            var weight = h.Upload(h.Random(s.WeightElements));
            var prologue = new Prologue { Scale = h.Upload(h.Random(s.InStride, 0.5, 1.5)), Shift = h.Upload(h.Random(s.InStride, -0.5, 0.5)), Enabled = 1 };
            var output = h.Poisoned(s.Batch * s.OutStride * s.OutSize * s.OutSize);
            var mean = h.Poisoned(s.OutStride);
            var variance = h.Poisoned(s.OutStride);
            h.Kernels.ConvForwardWithStatistics(s, input, weight, prologue, output,
                new BatchStatistics { Mean = mean, Variance = variance, InvStd = h.Poisoned(s.OutStride), Epsilon = 1e-5f });
            return (h.Read(output), h.Read(mean), h.Read(variance));
        }
        var shuffles = Run("bands-3-unsplit");
        var tree = Run("bands-3-unsplit-tree");
        Assert.Equal(tree.Output, shuffles.Output);
        Assert.Equal(tree.Mean.AsSpan(s.OutOffset, s.OutChannels).ToArray(), shuffles.Mean.AsSpan(s.OutOffset, s.OutChannels).ToArray());
        Assert.Equal(tree.Variance.AsSpan(s.OutOffset, s.OutChannels).ToArray(), shuffles.Variance.AsSpan(s.OutOffset, s.OutChannels).ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Backward_through_batch_norm_sums_by_shuffles_and_by_the_tree_are_the_same_bits(int kernel)
    {
        // Here the 60 channels are the conv's output (the gradient's channels), 20 its input, through BN.
        var s = Shape(kernel) with { InChannels = 60, InStride = 64, OutChannels = 20, OutStride = 24, OutOffset = 0 };
        (float[] Grad, float[] DGamma, float[] DBeta, float[] S1, float[] S2) Run(string variant)
        {
            using var h = new KernelHarness(22, variant);
            var input = h.Upload(h.Random(s.Batch * s.InStride * s.InSize * s.InSize));
            var weight = h.Upload(h.Random(s.WeightElements));
            var dOut = h.Upload(h.Random(s.Batch * s.OutStride * s.OutSize * s.OutSize));
            var prologue = new Prologue { Scale = h.Upload(h.Random(s.InStride, 0.5, 1.5)), Shift = h.Upload(h.Random(s.InStride, -0.5, 0.5)), Enabled = 1 };
            var grad = h.Upload(h.Random(s.Batch * s.InStride * s.InSize * s.InSize));
            var dGamma = h.Poisoned(s.InChannels);
            var dBeta = h.Poisoned(s.InChannels);
            var s1 = h.Upload(h.Random(s.InStride));
            var s2 = h.Upload(h.Random(s.InStride));
            h.Kernels.ConvBackwardInputThroughBatchNorm(s, dOut, weight, input, prologue, new BatchNormBackward
            {
                Gamma = h.Upload(h.Random(s.InStride, 0.5, 1.5)), Mean = h.Upload(h.Random(s.InStride, -0.2, 0.2)), InvStd = h.Upload(h.Random(s.InStride, 0.8, 1.2)),
                Grad = grad, S1 = s1, S2 = s2, DGamma = dGamma, DBeta = dBeta,
            });
            return (h.Read(grad), h.Read(dGamma), h.Read(dBeta), h.Read(s1), h.Read(s2));
        }
        var shuffles = Run("bands-3-unsplit");
        var tree = Run("bands-3-unsplit-tree");
        Assert.Equal(tree.Grad, shuffles.Grad);
        Assert.Equal(tree.DGamma, shuffles.DGamma);
        Assert.Equal(tree.DBeta, shuffles.DBeta);
        Assert.Equal(tree.S1, shuffles.S1);
        Assert.Equal(tree.S2, shuffles.S2);
    }
}
