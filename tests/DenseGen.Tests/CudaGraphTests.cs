using System;
using System.Linq;
using DenseGen.Execution;
using DenseGen.Model;
using Xunit;

namespace DenseGen.Tests;

/// <summary>
/// Training steps replayed from a CUDA graph (<see cref="DenseNetSession.CudaGraphs"/>). The capture itself needs a
/// CUDA GPU (the last test; a visible skip elsewhere); what it relies on runs everywhere: the step launched on a stream
/// of its own gives the default stream's bits (with dropout too: its per-step key is in device memory), the scratch
/// refuses to grow there, and where graphs cannot apply the steps run as usual and say why.
/// </summary>
[Trait("Backend", "Device")]
public sealed class CudaGraphTests
{
    private const int Batch = 2;

    private static (float[] Images, int[] Labels) Batch2(ModelDescription model, int seed)
    {
        var random = new Random(seed);
        var images = Enumerable.Range(0, Batch * model.InputChannels * model.InputSize * model.InputSize).Select(_ => (float)(2 * random.NextDouble() - 1)).ToArray();
        return (images, Enumerable.Range(0, Batch).Select(_ => random.Next(model.Classes)).ToArray());
    }

    /// <summary>SGD steps of both sessions on the same batches, each step's loss equal; <paramref name="afterStep"/> after each.</summary>
    private static void TrainSideBySide(ModelDescription model, DenseNetSession usual, DenseNetSession graphs, int steps, Action<int>? afterStep = null)
    {
        var options = new SgdOptions(0.1f, Momentum: 0.9f, WeightDecay: 1e-4f, Nesterov: true);
        for (int step = 0; step < steps; step++)
        {
            var (images, labels) = Batch2(model, step);
            Assert.Equal(usual.TrainStep(images, labels, options), graphs.TrainStep(images, labels, options));
            afterStep?.Invoke(step);
        }
    }

    /// <summary>An ILGPU device (the test device, or ILGPU's CPU accelerator when the tests run on the host kernels).</summary>
    private static ComputeDevice IlgpuDevice() => TestDevice.For("pipelined").Device;

    /// <summary>
    /// What a capture relies on, on any ILGPU device (ILGPU's CPU accelerator, PoCL: there a created stream is a second
    /// command queue): before the scratch is sized, launching on a stream of its own is refused (a graph would hold the
    /// scratch's address); after one step on the default stream, the step launched on a stream of its own gives the
    /// default stream's loss and gradients bit for bit. One test, one fresh kernel set (its compile is most of the time).
    /// </summary>
    [Fact]
    [Trait("Kernels", "Versions")]
    public void A_step_on_a_stream_of_its_own_is_refused_until_the_scratch_is_sized_then_gives_the_default_streams_bits()
    {
        var device = IlgpuDevice();
        // A kernel set of its own: the test switches its stream, which the shared sets' other users must not see, and
        // needs one whose scratch no other test has sized.
        var kernels = new KernelSet(device.Accelerator, device.ReductionGroupSize, ConvolutionVersion.Banded, bands: 3);
        using var session = new DenseNetSession(SmallPlain.Description, device, Batch, kernels);
        var (images, labels) = Batch2(SmallPlain.Description, 5);
        using var stream = device.Accelerator.CreateStream();

        var error = Assert.Throws<InvalidOperationException>(() => session.ForwardBackwardOn(stream, images, labels));
        Assert.Contains("run the step once on the default stream first", error.Message);
        Assert.Same(device.Accelerator.DefaultStream, kernels.Stream);
        Assert.Equal(0, kernels.ScratchGeneration);

        float loss = session.ForwardBackward(images, labels); // sizes the scratch on the default stream
        var gradients = session.GetGradients();
        Assert.True(kernels.ScratchGeneration > 0);
        Assert.Equal(loss, session.ForwardBackwardOn(stream, images, labels));
        Assert.True(gradients.AsSpan().SequenceEqual(session.GetGradients()), "the gradients differ");
        Assert.Same(device.Accelerator.DefaultStream, kernels.Stream);
    }

    /// <summary>
    /// A network with dropout, whose masks change every step: its step key is written to device memory before the step
    /// (not a launch argument), so a step launched on a stream of its own, as a capture launches it, gives the bits of a
    /// twin session's step on the default stream, step after step. A key left from the step before would change them.
    /// </summary>
    [Fact]
    [Trait("Kernels", "Versions")]
    public void Dropout_steps_on_a_stream_of_their_own_give_the_default_streams_bits()
    {
        var device = IlgpuDevice();
        var model = SmallDropout.Description;
        var kernels = new KernelSet(device.Accelerator, device.ReductionGroupSize, ConvolutionVersion.Banded, bands: 3);
        using var usual = new DenseNetSession(model, device, Batch, kernels);
        using var onStream = new DenseNetSession(model, device, Batch, kernels);
        using var stream = device.Accelerator.CreateStream();
        for (int step = 0; step < 3; step++)
        {
            var (images, labels) = Batch2(model, step);
            float expected = usual.ForwardBackward(images, labels);
            // The first step on the default stream: it sizes the scratch, as a graph's first step does.
            float loss = step == 0 ? onStream.ForwardBackward(images, labels) : onStream.ForwardBackwardOn(stream, images, labels);
            Assert.Equal(expected, loss);
            Assert.True(usual.GetGradients().AsSpan().SequenceEqual(onStream.GetGradients()), $"step {step}: the gradients differ");
        }
    }

    [NotCudaFact]
    public void Without_cuda_steps_run_as_usual_and_say_why()
    {
        var model = SmallPlain.Description;
        using var usual = new DenseNetSession(model, TestDevice.Instance, Batch);
        using var graphs = new DenseNetSession(model, TestDevice.Instance, Batch) { CudaGraphs = true };
        TrainSideBySide(model, usual, graphs, steps: 3);
        Assert.True(usual.GetParameters().AsSpan().SequenceEqual(graphs.GetParameters()), "the parameters differ");
        Assert.StartsWith("not used: ", graphs.CudaGraphStatus);
        Assert.Contains("CUDA graphs need a CUDA GPU", graphs.CudaGraphStatus);
        Assert.Equal(0, graphs.CudaGraphLaunches);
    }

    /// <summary>
    /// On CUDA: steps 3 and on replay the graph captured at step 2, and every step's loss, the parameters, the running
    /// statistics and each BN's batch count equal a session's that launches one by one; with dropout too.
    /// </summary>
    [CudaFact]
    public void Replayed_graph_steps_train_bit_for_bit_as_launched_ones()
    {
        ReplaysBitForBit(SmallBC.Description);
        ReplaysBitForBit(SmallDropout.Description);
    }

    private static void ReplaysBitForBit(ModelDescription model)
    {
        using var usual = new DenseNetSession(model, TestDevice.Instance, Batch);
        using var graphs = new DenseNetSession(model, TestDevice.Instance, Batch) { CudaGraphs = true };
        TrainSideBySide(model, usual, graphs, steps: 4, afterStep: step =>
        {
            if (step == 0) Assert.Equal(0, graphs.CudaGraphLaunches); // launched one by one: loads every kernel, sizes the scratch
        });
        Assert.StartsWith("replaying a graph of ", graphs.CudaGraphStatus);
        Assert.True(graphs.CudaGraphLaunches > 10, graphs.CudaGraphStatus);
        Assert.True(usual.GetParameters().AsSpan().SequenceEqual(graphs.GetParameters()), "the parameters differ");
        Assert.True(usual.GetRunningStatistics().AsSpan().SequenceEqual(graphs.GetRunningStatistics()), "the running statistics differ");
        Assert.Equal(usual.BatchesTracked, graphs.BatchesTracked);
        Assert.Equal(usual.Forward(Batch2(model, 9).Images, training: false), graphs.Forward(Batch2(model, 9).Images, training: false));
    }
}

/// <summary>A fact for a device other than CUDA; skipped on CUDA, where the same steps are captured.</summary>
public sealed class NotCudaFactAttribute : FactAttribute
{
    public NotCudaFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("DENSEGEN_DEVICE") is { } device && device.StartsWith("cuda", StringComparison.Ordinal)) Skip = "on CUDA the steps are captured (Replayed_graph_steps_train_bit_for_bit_as_launched_ones)";
    }
}

/// <summary>A fact for a CUDA device (DENSEGEN_DEVICE=cuda); skipped on the others.</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("DENSEGEN_DEVICE") is not { } device || !device.StartsWith("cuda", StringComparison.Ordinal))
            Skip = "needs a CUDA device (DENSEGEN_DEVICE=cuda; this project's CI has none, the GPU check runs the capture on one)";
    }
}
