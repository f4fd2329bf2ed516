using System;
using System.Runtime.InteropServices;
using System.Text;

namespace DenseGen.Execution;

/// <summary>
/// The five CUDA driver calls that loading a kernel image needs and ILGPU does not offer: ILGPU loads modules from PTX
/// text only (cuModuleLoadData with a string), where an assembled image (a cubin) is binary. <see cref="KernelResources"/>
/// reads kernels' registers and spills through <see cref="Attribute"/> too. Called on a thread whose current context is
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

    /// <summary>The group size of most occupancy for a kernel without dynamic shared memory: what ILGPU's auto-grouped kernels launch with.</summary>
    public static int MaxPotentialBlockSize(IntPtr function)
    {
        int minGrid, blockSize;
        Check(((delegate* unmanaged<int*, int*, IntPtr, IntPtr, nuint, int, int>)s_blockSize.Value)(&minGrid, &blockSize, function, IntPtr.Zero, 0, 0),
            "cuOccupancyMaxPotentialBlockSize");
        return blockSize;
    }
}
