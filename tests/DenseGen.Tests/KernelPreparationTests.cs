using System;
using System.Linq;
using DenseGen.Execution;
using DenseGen.Model;
using Xunit;
using Xunit.Abstractions;

namespace DenseGen.Tests;

/// <summary>
/// A session compiles, when it is created, every kernel its training step launches (KernelSet.Prepare and the kernels
/// compiled on first use): none compiles during the first step, where it would wait alone for ILGPU and the driver's
/// JIT instead of side by side with the rest. The kernels it compiled and never launched are printed: each is JIT work
/// the first step pays for nothing.
/// </summary>
[Trait("Backend", "Device")]
[Trait("Kernels", "Versions")]
public class KernelPreparationTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(nameof(SmallBC))]
    [InlineData(nameof(SmallImageNet))]
    [InlineData(nameof(SmallDropout))]
    [InlineData(nameof(SmallBC), true)] // version 4's growth kernels on every conv they apply to (too small a batch for its policy)
    public void A_session_compiles_every_kernel_its_training_step_launches(string network, bool growthWherePossible = false)
    {
        ModelDescription model = network switch
        {
            nameof(SmallBC) => SmallBC.Description,
            nameof(SmallImageNet) => SmallImageNet.Description,
            _ => SmallDropout.Description,
        };
        var device = TestDevice.For("banded").Device; // an ILGPU device: ILGPU's CPU accelerator on the host run
        var kernels = new KernelSet(device.Accelerator, device.ReductionGroupSize, ConvolutionVersion.Banded, growthWherePossible: growthWherePossible); // its own: nothing compiled by other tests
        LaunchesOnlyPreparedKernels(network + (growthWherePossible ? " (growth kernels wherever they apply)" : ""), model, device, kernels);
    }

    /// <summary>
    /// As <see cref="A_session_compiles_every_kernel_its_training_step_launches"/> for a version 5 set on
    /// <paramref name="bands"/>-band tiles: and its banded forwards, input gradients through BN and weight gradients
    /// launch version 5's tensor-core kernels, none version 4's FFMA ones (a set that fell back to them would still pass
    /// every float64 check).
    /// </summary>
    [TensorCoreTheory]
    [InlineData(nameof(SmallImageNet), 3)]
    public void A_tensor_core_session_launches_version_5s_kernels_for_every_banded_product(string network, int bands)
    {
        var model = network == nameof(SmallBC) ? SmallBC.Description : SmallImageNet.Description;
        var device = TestDevice.For("banded").Device;
        var kernels = new KernelSet(device.Accelerator, device.ReductionGroupSize, ConvolutionVersion.Banded, bands: bands, quads: true, tensorCores: true);
        var launched = LaunchesOnlyPreparedKernels($"{network}, version 5 on {bands} bands", model, device, kernels);
        foreach (string product in new[] { "ForwardTensorCores", "BackwardInputThroughBatchNormTensorCores", "BackwardWeightsTensorCores" })
            Assert.Contains(launched, k => k.StartsWith($"ConvolutionKernels.{product}<Bands{bands},", StringComparison.Ordinal));
        Assert.DoesNotContain(launched, k => k.StartsWith("ConvolutionKernels.ForwardBanded<", StringComparison.Ordinal)
            || k.StartsWith("ConvolutionKernels.BackwardInputThroughBatchNormBanded<", StringComparison.Ordinal)
            || k.StartsWith("ConvolutionKernels.BackwardWeightsBanded<", StringComparison.Ordinal));
    }

    /// <summary>One training step of <paramref name="model"/>: asserts it launched only kernels the session compiled at creation, all in the kernel catalog; returns their names.</summary>
    private System.Collections.Generic.HashSet<string> LaunchesOnlyPreparedKernels(string label, ModelDescription model, ComputeDevice device, KernelSet kernels)
    {
        const int batch = 3;
        using var session = new DenseNetSession(model, device, batch, kernels);
        var prepared = kernels.Launchers.Select(l => l.Name).ToHashSet();

        var random = new Random(5);
        var images = Enumerable.Range(0, batch * model.InputChannels * model.InputSize * model.InputSize).Select(_ => (float)random.NextDouble()).ToArray();
        kernels.StartProfile();
        session.TrainStep(images, [0, 1, 2], new SgdOptions(0.05f));
        var launched = kernels.StopProfile().Select(p => p.Kernel).ToHashSet();

        Assert.Empty(launched.Except(prepared)); // compiled during the step
        Assert.Empty(prepared.Except(KernelCatalog.All.Select(KernelLoader.NameOf))); // kernels without an image in a full set (KernelImages)
        Assert.Equal(prepared.Count, kernels.Launchers.Count);
        output.WriteLine($"{label}: {prepared.Count} kernels compiled at creation, {launched.Count} launched; never launched: " +
                         string.Join(", ", prepared.Except(launched).Order()));
        return launched;
    }
}
