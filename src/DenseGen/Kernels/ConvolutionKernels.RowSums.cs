using ILGPU;

namespace DenseGen.Kernels;

/// <summary>
/// The epilogues' per-channel sums (forward statistics; the BN-backward sums of the input gradient through BN): each
/// thread holds four channels' pairs of its 4 x 4 block, and the threads of a block row add them up. Two ways, in the
/// same pairing order (x + x[+16], then + x[+8], ...), so the same bits (RowSumsTests compares them):
/// - <see cref="TreeRowSums"/>: through shared memory, a tree with one barrier per level (5 levels for a row of 32
///   threads, all 8 values per level). Every backend; PoCL cannot compile warp shuffles.
/// - <see cref="ShuffleRowSums"/>: warp shuffles, where a block row is one warp (version 4's 16 x 128 bands: 32
///   threads per row, rows aligned with warps): no shared memory and no barrier, 5 x 8 shuffles of doubles. CUDA and
///   ILGPU's CPU accelerator (whose emulated warps the tests run it on).
/// </summary>
internal static partial class ConvolutionKernels
{
    /// <summary>
    /// How a block row's threads add their 8 sums and the row's first thread (Tx = 0) writes the totals (by value, no
    /// <c>ref</c> across a barrier: PoCL's work-item loops shared such a variable between work-items).
    /// </summary>
    private interface IRowSums
    {
        void Sum(ArrayView<double> sums, TileGeometry g, double a0, double b0, double a1, double b1, double a2, double b2, double a3, double b3,
            ArrayView<double> partials, int tile, int channels, int firstChannel);
    }

    /// <summary>A tree through shared memory (<see cref="RowSums"/> doubles), one barrier per level: every backend.</summary>
    private struct TreeRowSums : IRowSums
    {
        public readonly void Sum(ArrayView<double> sums, TileGeometry g, double a0, double b0, double a1, double b1, double a2, double b2, double a3, double b3,
            ArrayView<double> partials, int tile, int channels, int firstChannel)
        {
            int t = Group.IdxX;
            sums[t] = a0; sums[TileThreads + t] = b0;
            sums[2 * TileThreads + t] = a1; sums[3 * TileThreads + t] = b1;
            sums[4 * TileThreads + t] = a2; sums[5 * TileThreads + t] = b2;
            sums[6 * TileThreads + t] = a3; sums[7 * TileThreads + t] = b3;
            Group.Barrier();
            for (int stride = g.ThreadsPerRow / 2; stride > 0; stride /= 2)
            {
                if (g.Tx < stride)
                    for (int v = 0; v < 8; v++) sums[v * TileThreads + t] += sums[v * TileThreads + t + stride];
                Group.Barrier();
            }
            if (g.Tx != 0) return;
            for (int i = 0; i < 4; i++) WriteRowSum(partials, tile, channels, firstChannel + i, sums[2 * i * TileThreads + t], sums[(2 * i + 1) * TileThreads + t]);
        }
    }

    /// <summary>Warp shuffles down by 16, 8, 4, 2, 1: a row of 32 threads that is one warp (version 4's bands only).</summary>
    private struct ShuffleRowSums : IRowSums
    {
        public readonly void Sum(ArrayView<double> sums, TileGeometry g, double a0, double b0, double a1, double b1, double a2, double b2, double a3, double b3,
            ArrayView<double> partials, int tile, int channels, int firstChannel)
        {
            for (int delta = BandColumns / 8; delta > 0; delta /= 2)
            {
                a0 += Warp.ShuffleDown(a0, delta); b0 += Warp.ShuffleDown(b0, delta);
                a1 += Warp.ShuffleDown(a1, delta); b1 += Warp.ShuffleDown(b1, delta);
                a2 += Warp.ShuffleDown(a2, delta); b2 += Warp.ShuffleDown(b2, delta);
                a3 += Warp.ShuffleDown(a3, delta); b3 += Warp.ShuffleDown(b3, delta);
            }
            if (g.Tx != 0) return;
            WriteRowSum(partials, tile, channels, firstChannel, a0, b0);
            WriteRowSum(partials, tile, channels, firstChannel + 1, a1, b1);
            WriteRowSum(partials, tile, channels, firstChannel + 2, a2, b2);
            WriteRowSum(partials, tile, channels, firstChannel + 3, a3, b3);
        }
    }

    /// <summary>Channel c's pair into partials[(tile * channels + c) * 2], for c below <paramref name="channels"/>.</summary>
    private static void WriteRowSum(ArrayView<double> partials, int tile, int channels, int c, double a, double b)
    {
        if (c >= channels) return;
        partials[(tile * channels + c) * 2] = a;
        partials[(tile * channels + c) * 2 + 1] = b;
    }

    /// <summary>
    /// The four row pairs of every thread's block summed over the threads of its block row in a fixed order (by
    /// <typeparamref name="TRows"/>): version 2's <see cref="SumRow"/> has one thread per row add 16 to 32 values while
    /// the rest wait, twice a barrier per row, which Nsight Compute showed as warps running 21 of 32 threads in the 1x1
    /// convs of block 1 (3 to 26 reduction steps, so the epilogue weighs). The row's first thread writes pair i to
    /// partials[(tile * channels + c) * 2], c = firstChannel + i, for c below <paramref name="channels"/>. Every thread
    /// of the group must call it.
    /// </summary>
    private static void SumRows4<TRows>(ArrayView<double> sums, TileGeometry g, double a0, double b0, double a1, double b1, double a2, double b2, double a3, double b3,
        ArrayView<double> partials, int tile, int channels, int firstChannel) where TRows : struct, IRowSums =>
        default(TRows).Sum(sums, g, a0, b0, a1, b1, a2, b2, a3, b3, partials, tile, channels, firstChannel);
}
