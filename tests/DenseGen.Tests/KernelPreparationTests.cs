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
        output.WriteLine($"{network}{(growthWherePossible ? " (growth kernels wherever they apply)" : "")}: {prepared.Count} kernels compiled at creation, {launched.Count} launched; never launched: " +
                         string.Join(", ", prepared.Except(launched).Order()));
    }
}
