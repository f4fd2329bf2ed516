using System;
using System.Runtime.InteropServices;
using System.Text;

namespace DenseGen.Execution;

/// <summary>
/// The CUDA driver calls DenseGen needs and ILGPU does not offer. Loading a kernel image: ILGPU loads modules from PTX
/// text only (cuModuleLoadData with a string), where an assembled image (a cubin) is binary; <see cref="KernelResources"/>
/// reads kernels' registers and spills through <see cref="Attribute"/> too. Capturing a training step as a CUDA graph
/// and replaying it (<see cref="CudaGraphStep"/>): ILGPU has no graph API. Called on a thread whose current context is
/// the device's (Accelerator.Bind).
/// </summary>
internal static unsafe class CudaDriver
{
    private static readonly Lazy<IntPtr> s_library = new(() =>
    {
        foreach (string name in new[] { "libcuda.so.1", "libcuda.so", "nvcuda.dll" }) // the driver's soname first: a bare libcuda.so may be the toolkit's stub
            if (NativeLibrary.TryLoad(name, out var handle)) return handle;
        throw new DllNotFoundException("the CUDA driver library (libcuda.so.1 or nvcuda.dll) was not found");
    });

    private static IntPtr Export(string name) => NativeLibrary.GetExport(s_library.Value, name);

    private static readonly Lazy<IntPtr> s_loadData = new(() => Export("cuModuleLoadData"));
    private static readonly Lazy<IntPtr> s_getFunction = new(() => Export("cuModuleGetFunction"));
    private static readonly Lazy<IntPtr> s_unload = new(() => Export("cuModuleUnload"));
    private static readonly Lazy<IntPtr> s_attribute = new(() => Export("cuFuncGetAttribute"));
    private static readonly Lazy<IntPtr> s_blockSize = new(() => Export("cuOccupancyMaxPotentialBlockSize"));
    // cuda.h maps cuStreamBeginCapture to its _v2 (with a capture mode) since CUDA 10.1: the export keeps both names.
    private static readonly Lazy<IntPtr> s_beginCapture = new(() => Export("cuStreamBeginCapture_v2"));
    private static readonly Lazy<IntPtr> s_endCapture = new(() => Export("cuStreamEndCapture"));
    private static readonly Lazy<IntPtr> s_instantiate = new(() => Export("cuGraphInstantiateWithFlags"));
    private static readonly Lazy<IntPtr> s_graphLaunch = new(() => Export("cuGraphLaunch"));
    private static readonly Lazy<IntPtr> s_graphNodes = new(() => Export("cuGraphGetNodes"));
    private static readonly Lazy<IntPtr> s_graphDestroy = new(() => Export("cuGraphDestroy"));
    private static readonly Lazy<IntPtr> s_execDestroy = new(() => Export("cuGraphExecDestroy"));

    /// <summary>CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES and CU_FUNC_ATTRIBUTE_NUM_REGS.</summary>
    public const int SharedSizeBytes = 1, LocalSizeBytes = 3, Registers = 4;

    private static void Check(int result, string call)
    {
        if (result != 0) throw new InvalidOperationException($"{call} failed: CUDA error {result}");
    }

    /// <summary>Loads a module from an image in memory (a cubin for the device's architecture).</summary>
    public static IntPtr LoadModule(byte[] image)
    {
        IntPtr module;
        fixed (byte* data = image)
            Check(((delegate* unmanaged<IntPtr*, void*, int>)s_loadData.Value)(&module, data), "cuModuleLoadData");
        return module;
    }

    public static IntPtr Function(IntPtr module, string name)
    {
        IntPtr function;
        byte[] bytes = Encoding.ASCII.GetBytes(name + "\0");
        fixed (byte* text = bytes)
            Check(((delegate* unmanaged<IntPtr*, IntPtr, byte*, int>)s_getFunction.Value)(&function, module, text), $"cuModuleGetFunction({name})");
        return function;
    }

    public static void Unload(IntPtr module) => Check(((delegate* unmanaged<IntPtr, int>)s_unload.Value)(module), "cuModuleUnload");

    public static int Attribute(IntPtr function, int attribute)
    {
        int value;
        Check(((delegate* unmanaged<int*, int, IntPtr, int>)s_attribute.Value)(&value, attribute, function), "cuFuncGetAttribute");
        return value;
    }

    /// <summary>
    /// CU_STREAM_CAPTURE_MODE_RELAXED: this thread may still make calls the other modes refuse while it captures (none is
    /// expected: every kernel is loaded and the scratch sized before a capture).
    /// </summary>
    private const int CaptureModeRelaxed = 2;

    /// <summary>Starts recording the work launched on <paramref name="stream"/> into a graph instead of running it.</summary>
    public static void BeginCapture(IntPtr stream) =>
        Check(((delegate* unmanaged<IntPtr, int, int>)s_beginCapture.Value)(stream, CaptureModeRelaxed), "cuStreamBeginCapture");

    /// <summary>Stops recording; returns the graph of what was launched (the caller destroys it), or throws if the capture failed.</summary>
    public static IntPtr EndCapture(IntPtr stream)
    {
        IntPtr graph;
        Check(((delegate* unmanaged<IntPtr, IntPtr*, int>)s_endCapture.Value)(stream, &graph), "cuStreamEndCapture");
        return graph;
    }

    /// <summary>An executable graph of <paramref name="graph"/> (flags 0).</summary>
    public static IntPtr Instantiate(IntPtr graph)
    {
        IntPtr exec;
        Check(((delegate* unmanaged<IntPtr*, IntPtr, ulong, int>)s_instantiate.Value)(&exec, graph, 0), "cuGraphInstantiateWithFlags");
        return exec;
    }

    /// <summary>Queues every node of an executable graph on <paramref name="stream"/> (IntPtr.Zero: the default stream, ILGPU's).</summary>
    public static void Launch(IntPtr exec, IntPtr stream) =>
        Check(((delegate* unmanaged<IntPtr, IntPtr, int>)s_graphLaunch.Value)(exec, stream), "cuGraphLaunch");

    /// <summary>How many nodes (here: kernel launches) a graph holds.</summary>
    public static int NodeCount(IntPtr graph)
    {
        nuint count = 0;
        Check(((delegate* unmanaged<IntPtr, IntPtr*, nuint*, int>)s_graphNodes.Value)(graph, null, &count), "cuGraphGetNodes");
        return (int)count;
    }

    public static void DestroyGraph(IntPtr graph) => Check(((delegate* unmanaged<IntPtr, int>)s_graphDestroy.Value)(graph), "cuGraphDestroy");

    public static void DestroyExec(IntPtr exec) => Check(((delegate* unmanaged<IntPtr, int>)s_execDestroy.Value)(exec), "cuGraphExecDestroy");

    /// <summary>The group size of most occupancy for a kernel without dynamic shared memory: what ILGPU's auto-grouped kernels launch with.</summary>
    public static int MaxPotentialBlockSize(IntPtr function)
    {
        int minGrid, blockSize;
        Check(((delegate* unmanaged<int*, int*, IntPtr, IntPtr, nuint, int, int>)s_blockSize.Value)(&minGrid, &blockSize, function, IntPtr.Zero, 0, 0),
            "cuOccupancyMaxPotentialBlockSize");
        return blockSize;
    }
}
