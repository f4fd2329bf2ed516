using ILGPU;

namespace DenseGen.Kernels;

/// <summary>
/// Sums a value over the threads of a group through shared memory (a tree; the group size is a power of two).
/// Works on every backend, including OpenCL/PoCL where warp shuffles do not compile. Deterministic: the same
/// inputs give the same bits, which repeatable training needs.
/// </summary>
internal static class GroupReduce
{
    public const int MaxGroupSize = 256;

    public static double Sum(ArrayView<double> shared, double value)
    {
        int t = Group.IdxX;
        shared[t] = value;
        Group.Barrier();
        for (int stride = Group.DimX / 2; stride > 0; stride /= 2)
        {
            if (t < stride) shared[t] += shared[t + stride];
            Group.Barrier();
        }
        double sum = shared[0];
        Group.Barrier();
        return sum;
    }
}
