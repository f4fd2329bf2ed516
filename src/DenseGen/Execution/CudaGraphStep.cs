using System;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace DenseGen.Execution;

/// <summary>
/// A training step's forward and backward captured once as a CUDA graph and replayed: one cuGraphLaunch per step
/// instead of about a thousand kernel launches (BC-100), so the host's launch work and most of the gaps between small
/// kernels leave the step.
/// Why it is sound: a step launches the same kernels with the same arguments every time. The arena's views, the shapes,
/// the split plans and the scratch are fixed by the session; the per-step inputs (images, labels) are copied into the
/// arena before the replay and the loss read after it, and so is dropout's per-step key (its launches' arguments are the
/// arena view and a per-layer key, the same every step). SGD is not in the graph (its learning rate changes by schedule, its
/// first step differs, and the trainer checks the gradients before it): it stays one launch.
/// What invalidates a graph: the kernels' scratch growing (another session on the device, <see cref="KernelSet.ScratchGeneration"/>);
/// the session captures again then.
/// </summary>
internal sealed class CudaGraphStep : IDisposable
{
    private readonly CudaAccelerator _accelerator;
    private IntPtr _graph, _exec;

    private CudaGraphStep(CudaAccelerator accelerator, IntPtr graph, IntPtr exec, int launches, int scratchGeneration)
    {
        _accelerator = accelerator;
        _graph = graph;
        _exec = exec;
        Launches = launches;
        ScratchGeneration = scratchGeneration;
    }

    /// <summary>Kernel launches in the graph (its nodes).</summary>
    public int Launches { get; }

    /// <summary>The scratch generation the graph's addresses belong to.</summary>
    public int ScratchGeneration { get; }

    /// <summary>
    /// Records what <paramref name="launches"/> launches through <paramref name="kernels"/> into a graph, on a stream of
    /// its own (the default stream cannot capture), without running it. The kernel set is the device's, shared by its
    /// sessions: nothing else may launch through it meanwhile (a device is driven from one thread, see ComputeDevice). Every kernel must be loaded and the scratch large
    /// enough already (a step run before); a launch that would compile, allocate or synchronise fails the capture, and
    /// the exception says which.
    /// </summary>
    public static CudaGraphStep Capture(CudaAccelerator accelerator, KernelSet kernels, Action launches)
    {
        accelerator.Bind();
        using var stream = accelerator.CreateStream(StreamFlags.CU_STREAM_NON_BLOCKING);
        int generation = kernels.ScratchGeneration;
        CudaDriver.BeginCapture(stream.StreamPtr);
        try
        {
            kernels.LaunchOn(stream, launches);
        }
        catch
        {
            // End the capture so the stream is usable and destroyed cleanly; the partial graph is of no use.
            try { CudaDriver.DestroyGraph(CudaDriver.EndCapture(stream.StreamPtr)); } catch (InvalidOperationException) { }
            throw;
        }
        var graph = CudaDriver.EndCapture(stream.StreamPtr);
        try
        {
            int nodes = CudaDriver.NodeCount(graph); // before instantiating: nothing else to release if it throws
            return new CudaGraphStep(accelerator, graph, CudaDriver.Instantiate(graph), nodes, generation);
        }
        catch
        {
            CudaDriver.DestroyGraph(graph);
            throw;
        }
    }

    /// <summary>Queues the graph on the default stream, after what is queued there (the images and labels' copies).</summary>
    public void Launch()
    {
        ObjectDisposedException.ThrowIf(_exec == IntPtr.Zero, this);
        _accelerator.Bind();
        CudaDriver.Launch(_exec, IntPtr.Zero);
    }

    public void Dispose()
    {
        if (_exec == IntPtr.Zero) return;
        _accelerator.Bind();
        CudaDriver.DestroyExec(_exec);
        CudaDriver.DestroyGraph(_graph);
        _exec = _graph = IntPtr.Zero;
    }
}
