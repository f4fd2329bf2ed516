using System;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Threading;

namespace DenseGen.Execution;

/// <summary>
/// ILGPU imports "cuda" and "OpenCL", which the loader maps to libcuda.so and libOpenCL.so: names that only the
/// driver's development packages provide. Most machines have only libcuda.so.1 and libOpenCL.so.1, so this
/// resolver tries the versioned names too. Installed once, before ILGPU first calls into a driver.
/// </summary>
internal static class NativeLibraries
{
    private static int s_installed;

    public static void Install()
    {
        if (Interlocked.Exchange(ref s_installed, 1) == 1) return;
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(ILGPU.Context).Assembly, Resolve);
        }
        catch (InvalidOperationException)
        {
            // Someone (the host application) already set a resolver for ILGPU: theirs wins.
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        string[] candidates = name switch
        {
            "cuda" or "nvcuda" => ["libcuda.so", "libcuda.so.1", "nvcuda.dll"],
            "OpenCL" => ["libOpenCL.so", "libOpenCL.so.1", "OpenCL.dll"],
            _ => [],
        };
        foreach (string candidate in candidates)
            if (NativeLibrary.TryLoad(candidate, assembly, searchPath, out var handle)) return handle;
        return IntPtr.Zero; // fall back to the default probing (and its error message)
    }
}
