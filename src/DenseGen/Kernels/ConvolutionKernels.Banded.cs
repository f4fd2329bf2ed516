using ILGPU;

namespace DenseGen.Kernels;

/// <summary>
/// BN-ReLU-Conv, version 4: version 3's software-pipelined loops (<c>ConvolutionKernels.Pipelined.cs</c>) on tiles of
/// m bands, 16 m rows x 128 columns (m = 2, 3, 4), each thread holding m stacked 4 x 4 blocks: a 4m x 4 register block.
/// A band is exactly version 3's 16 x 128 tile, so each thread reads one 16-byte quad of the pixel-side tile and m quads
/// of the weight-side tile per reduction index, and version 3's epilogues serve each band unchanged.
/// What changes from version 3, whose forward Nsight Compute showed issue-bound at 0.56 instructions per cycle per
/// scheduler at 25 % occupancy (benchmarks/RESULTS.md, run 4), and whose main loop issues about 8 PTX instructions per
/// multiply-add (1,110 for 136 in ForwardPipelined's loop), most of them the step's gathers:
/// - A tile covers more rows at once, so a gathered pixel-side element feeds 16 m multiply-adds, not 16, and the
///   image is gathered once per 16 m output channels instead of once per 16: BC-100's 48-channel bottleneck convs
///   read their input once (m = 3) where version 3's 16-row tiles read it three times; DenseNet-121's 128-channel
///   bottlenecks twice (m = 4) where version 3's 32 x 64 tiles read it four times. Per step a thread issues m + 8
///   gathers for 128 m multiply-adds (version 3: 10 for 128, or 6 for 128 on 32 x 64 tiles).
/// - The shared loads per multiply-add fall from 1/8 to (m + 1) / 16 m (5/64 for m = 4).
/// - The rows are chosen per product (<see cref="BandsFor"/>): the band count that minimises an instruction estimate
///   over the padded rows, so a 12-channel growth conv keeps version 3's single band and a 48-channel one takes three.
/// Results: each output element is the same reduction in the same order as version 3's unsplit product; the
/// statistics tiles are 128 pixels wide as in version 3's 16-row tiles. Split-K as version 3 (fewer tiles, so small
/// grids split more). No atomics; the epilogues' channel sums use warp shuffles where the backend compiles them (CUDA,
/// ILGPU's CPU accelerator) and shared memory elsewhere (PoCL), same order and bits (ConvolutionKernels.RowSums.cs);
/// every band count is checked against the float64 references in the tests, split and unsplit.
/// The loops' code, read in ptxas's SASS for sm_90 (benchmarks/RESULTS.md; same arithmetic, same order): no remainder
/// or division by 3 or 9 compiles to a full division (<see cref="IndexMath"/>); gathers and the BN-ReLU stores are
/// selects, not branches; a 128-column tile folds each thread's load row to 0 (<c>LoadPlace</c>); the 8 steps, a
/// step's taps and the weight gradient's columns are indexed from views offset once, so ptxas folds the constants into
/// the shared loads; the weight gradient walks its pixels with a cursor; and the kernels carry launch bounds
/// (<see cref="LaunchBoundsAttribute"/>: 4 to 6 groups of 128 threads by band count, 80 to 128 registers).
/// </summary>
internal static partial class ConvolutionKernels
{
    /// <summary>The band count of a closed version 4 kernel (its first type argument), or null for any other kernel.</summary>
    internal static int? BandCountOf(System.Reflection.MethodInfo kernel) =>
        kernel.IsGenericMethod && kernel.GetGenericArguments()[0] is var t && typeof(IBands).IsAssignableFrom(t) ? ((IBands)System.Activator.CreateInstance(t)!).Count : null;

    /// <summary>Rows of one band: version 3's 16 x 128 tile.</summary>
    public const int BandRows = 16, BandColumns = TileArea / BandRows;

    /// <summary>
    /// Bands per tile for a product of <paramref name="rows"/> rows: the m in 1..4 that minimises
    /// ceil(rows / 16 m) * (176 m + 428), a per-thread instruction estimate of one reduction step from version 3's PTX
    /// (128 m multiply-adds, 8 (m + 1) shared loads, m + 8 gathers of about 40 instructions each, about 100 for the
    /// barrier, the taps and the loop). 12 rows: 1; 32: 2; 48: 3; 80: 3; 128, 204, 256: 4. m = 1 launches version 3's
    /// kernels.
    /// </summary>
    public static int BandsFor(int rows)
    {
        int best = 1;
        long bestCost = long.MaxValue;
        for (int m = 1; m <= 4; m++)
        {
            long cost = (long)Ceiling(rows, BandRows * m) * (176 * m + 428);
            if (cost < bestCost) { best = m; bestCost = cost; }
        }
        return best;
    }

    /// <summary>m stacked 4 x 4 blocks of a thread: band i's block covers rows 16 i + 4 Ty .. + 3 and columns 4 Tx .. + 3.</summary>
    private interface IBands : IRegisterBlock
    {
        int Count { get; }

        /// <summary>Band i's block (i below <see cref="Count"/>).</summary>
        Block4x4 Band(int i);
    }

    /// <summary>
    /// One reduction index of a register block: the pixel-side quad at column, one weight-side quad per band from top
    /// (version 2 and 3's <see cref="Block4x4"/> is one band).
    /// </summary>
    private interface IBandStep
    {
        void Step(ArrayView<Float4> left, int top, ArrayView<Float4> right, int column);
    }

    /// <summary>
    /// The 8 reduction indices of a tile depth written out (ILGPU does not unroll), for any band count and versions 2
    /// and 3's 4 x 4 blocks: per index one quad of the pixel-side tile (column 4 Tx) and one of the weight-side tile
    /// per band (row 16 i + 4 Ty).
    /// </summary>
    private static void EightSteps<T>(ref T block, ArrayView<Float4> left, ArrayView<Float4> right, TileGeometry g) where T : struct, IBandStep
    {
        // The thread's first quads as views, then constant indices (in banded tiles): ptxas folds those into the shared
        // loads' immediate offsets, where a runtime index plus a constant cost an address computation per load.
        var l = left.SubView(g.Ty);
        var r = right.SubView(g.Tx);
        int ls = g.Rows / 4, rs = g.Columns / 4;
        block.Step(l, 0, r, 0);
        block.Step(l, ls, r, rs);
        block.Step(l, 2 * ls, r, 2 * rs);
        block.Step(l, 3 * ls, r, 3 * rs);
        block.Step(l, 4 * ls, r, 4 * rs);
        block.Step(l, 5 * ls, r, 5 * rs);
        block.Step(l, 6 * ls, r, 6 * rs);
        block.Step(l, 7 * ls, r, 7 * rs);
    }

    private struct Bands2 : IBands, IBandStep
    {
        public Block4x4 B0, B1;

        public readonly int Count => 2;

        public readonly Block4x4 Band(int i) => i == 0 ? B0 : B1;

        public void Steps8(ArrayView<Float4> left, ArrayView<Float4> right, TileGeometry g) => EightSteps(ref this, left, right, g);

        public readonly void Begin() { }

        public readonly int TilePad => 0;

        public void Step(ArrayView<Float4> left, int top, ArrayView<Float4> right, int column)
        {
            var b = right[column];
            B0.Multiply(left[top], b);
            B1.Multiply(left[top + BandRows / 4], b);
        }
    }

    private struct Bands3 : IBands, IBandStep
    {
        public Block4x4 B0, B1, B2;

        public readonly int Count => 3;

        public readonly Block4x4 Band(int i) => i == 0 ? B0 : i == 1 ? B1 : B2;

        public void Steps8(ArrayView<Float4> left, ArrayView<Float4> right, TileGeometry g) => EightSteps(ref this, left, right, g);

        public readonly void Begin() { }

        public readonly int TilePad => 0;

        public void Step(ArrayView<Float4> left, int top, ArrayView<Float4> right, int column)
        {
            var b = right[column];
            B0.Multiply(left[top], b);
            B1.Multiply(left[top + BandRows / 4], b);
            B2.Multiply(left[top + 2 * BandRows / 4], b);
        }
    }

    private struct Bands4 : IBands, IBandStep
    {
        public Block4x4 B0, B1, B2, B3;

        public readonly int Count => 4;

        public readonly Block4x4 Band(int i) => i == 0 ? B0 : i == 1 ? B1 : i == 2 ? B2 : B3;

        public void Steps8(ArrayView<Float4> left, ArrayView<Float4> right, TileGeometry g) => EightSteps(ref this, left, right, g);

        public readonly void Begin() { }

        public readonly int TilePad => 0;

        public void Step(ArrayView<Float4> left, int top, ArrayView<Float4> right, int column)
        {
            var b = right[column];
            B0.Multiply(left[top], b);
            B1.Multiply(left[top + BandRows / 4], b);
            B2.Multiply(left[top + 2 * BandRows / 4], b);
            B3.Multiply(left[top + 3 * BandRows / 4], b);
        }
    }

    /// <summary>A tile of m bands: 16 m x 128, the threads' 4 x 4 grid of one band (32 per band row, 4 band rows).</summary>
    private static TileGeometry BandedGeometry<T>() where T : struct, IBands => new(BandRows * default(T).Count, BandColumns, 4);

    /// <summary>
    /// Forward, version 4, m = T's bands: as <see cref="ForwardPipelined"/> on 16 m x 128 tiles. Launch
    /// Ceiling(OutChannels, 16 m) * Ceiling(pixels, 128) * splits groups of <see cref="TileThreads"/> threads; unsplit
    /// statistics per 128-pixel tile, as version 3's 16-row tiles write them.
    /// </summary>
    // Launch bounds: the most groups per multiprocessor whose register cap (80, 96, 128) ptxas meets without spills, sm_90.
    [LaunchBounds(TileThreads, TwoBands = 6, ThreeBands = 5, FourBands = 4)]
    private static void ForwardBanded<T, TTaps, TRows>(ConvShape s, ArrayView<float> input, ArrayView<float> weight, Prologue prologue, ArrayView<float> output,
        ArrayView<double> statistics, int withStatistics, int splitSteps, ArrayView<float> splitPartials)
        where T : struct, IBands where TTaps : struct, ITaps where TRows : struct, IRowSums
    {
        var sums = SharedMemory.Allocate<double>(RowSums);
        var block = ForwardProduct<T, TTaps>(s, input, weight, prologue, BandedGeometry<T>(), splitSteps, out int co0, out int pixel0, out int split);
        var band = new TileGeometry(BandRows);
        int m = block.Count;
        if (splitSteps >= Ceiling(s.InChannels * s.Kernel * s.Kernel, TileDepth))
        {
            for (int i = 0; i < m; i++) StoreForwardBlock(s, block.Band(i), band, pixel0, co0 + BandRows * i, output);
            // One uniform test before all bands' barriers: PoCL computed wrong sums when each band's epilogue tested it
            // between the previous band's barriers and its own.
            if (withStatistics == 0) return;
            for (int i = 0; i < m; i++) StatisticsTree<TRows>(s, block.Band(i), band, pixel0, co0 + BandRows * i, sums, statistics);
            return;
        }
        for (int i = 0; i < m; i++) StoreSplit(block.Band(i), band, splitPartials, split, co0 + BandRows * i, s.OutChannels, pixel0, s.Batch * s.OutSize * s.OutSize);
    }

    /// <summary>Backward-input with a plain input, version 4: as <see cref="BackwardInputPipelined"/> on 16 m x 128 tiles.</summary>
    [LaunchBounds(TileThreads, TwoBands = 6, ThreeBands = 5, FourBands = 4)]
    private static void BackwardInputBanded<T, TTaps>(ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> dInput, int splitSteps, ArrayView<float> splitPartials)
        where T : struct, IBands where TTaps : struct, ITaps
    {
        var block = InputGradientProduct<T, TTaps>(s, dOut, weight, BandedGeometry<T>(), splitSteps, out int ci0, out int q0, out int split);
        var band = new TileGeometry(BandRows);
        int m = block.Count;
        bool unsplit = splitSteps >= Ceiling(s.OutChannels * s.Kernel * s.Kernel, TileDepth);
        for (int i = 0; i < m; i++)
        {
            if (unsplit) InputGradientEpilogue(s, block.Band(i), band, ci0 + BandRows * i, q0, dInput);
            else StoreSplit(block.Band(i), band, splitPartials, split, ci0 + BandRows * i, s.InChannels, q0, s.Batch * s.InSize * s.InSize);
        }
    }

    /// <summary>
    /// Backward-input through BN-ReLU, version 4: as <see cref="BackwardInputThroughBatchNormPipelined"/> on 16 m x 128
    /// tiles; unsplit, the channel sums per 128-pixel tile.
    /// </summary>
    [LaunchBounds(TileThreads, TwoBands = 6, ThreeBands = 5, FourBands = 4)]
    private static void BackwardInputThroughBatchNormBanded<T, TTaps, TRows>(
        ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> input, Prologue prologue, BatchNormBackward bn, ArrayView<double> partials,
        int splitSteps, ArrayView<float> splitPartials) where T : struct, IBands where TTaps : struct, ITaps where TRows : struct, IRowSums
    {
        var sums = SharedMemory.Allocate<double>(RowSums);
        var block = InputGradientProduct<T, TTaps>(s, dOut, weight, BandedGeometry<T>(), splitSteps, out int ci0, out int q0, out int split);
        var band = new TileGeometry(BandRows);
        int m = block.Count;
        if (splitSteps >= Ceiling(s.OutChannels * s.Kernel * s.Kernel, TileDepth))
        {
            for (int i = 0; i < m; i++) ThroughBatchNormEpilogueTree<TRows>(s, block.Band(i), band, ci0 + BandRows * i, q0, input, prologue, bn, sums, partials);
            return;
        }
        for (int i = 0; i < m; i++) StoreSplit(block.Band(i), band, splitPartials, split, ci0 + BandRows * i, s.InChannels, q0, s.Batch * s.InSize * s.InSize);
    }

    /// <summary>
    /// Backward-weights, version 4: as <see cref="BackwardWeightsPipelined"/> on 16 m x 128 tiles (16 m output channels x
    /// 128 weight columns). Launch Ceiling(OutChannels, 16 m) * Ceiling(K, 128) * splits groups; same partials.
    /// </summary>
    // Its 3-band kernels spill at 96 registers, its 2-band ones at 80 (the staged dY rows and image columns).
    [LaunchBounds(TileThreads, TwoBands = 5, ThreeBands = 4, FourBands = 4)]
    private static void BackwardWeightsBanded<T, TTaps>(ConvShape s, ArrayView<float> input, Prologue prologue, ArrayView<float> dOut, ArrayView<float> partials, int chunk)
        where T : struct, IBands where TTaps : struct, ITaps
    {
        var block = WeightsProduct<T, TTaps>(s, input, prologue, dOut, chunk, BandedGeometry<T>(), out int co0, out int k0, out int split);
        var band = new TileGeometry(BandRows);
        for (int i = 0; i < block.Count; i++) WeightsEpilogue(s, block.Band(i), band, split, co0 + BandRows * i, k0, partials);
    }

    /// <summary>Version 4's four products, each a generic kernel over band count and tap kind (<see cref="BandedKernel"/>).</summary>
    public enum BandedProduct { Forward, BackwardInput, BackwardInputThroughBatchNorm, BackwardWeights }

    /// <summary>
    /// The closed kernel of <paramref name="product"/> for <paramref name="bands"/> (2, 3 or 4) and <paramref name="taps"/>,
    /// the forward's and backward-through-BN's epilogue sums by warp shuffles where <paramref name="warpShuffles"/>
    /// (<see cref="ShuffleRowSums"/>; CUDA, ILGPU's CPU accelerator), else through shared memory: ILGPU compiles closed
    /// generic methods, each once, on first use; a network uses a few of the 72.
    /// </summary>
    public static System.Reflection.MethodInfo BandedKernel(BandedProduct product, int bands, TapKind taps, bool warpShuffles = false)
    {
        var method = typeof(ConvolutionKernels).GetMethod(product switch
        {
            BandedProduct.Forward => nameof(ForwardBanded),
            BandedProduct.BackwardInput => nameof(BackwardInputBanded),
            BandedProduct.BackwardInputThroughBatchNorm => nameof(BackwardInputThroughBatchNormBanded),
            _ => nameof(BackwardWeightsBanded),
        }, System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic)!;
        var bandsType = BandsType(bands);
        if (!HasEpilogueSums(product)) return method.MakeGenericMethod(bandsType, TapsType(taps));
        return method.MakeGenericMethod(bandsType, TapsType(taps), warpShuffles ? typeof(ShuffleRowSums) : typeof(TreeRowSums));
    }

    /// <summary>The register block of <paramref name="bands"/> bands, the first type argument of version 4's and 5's kernels.</summary>
    private static System.Type BandsType(int bands) => bands switch
    {
        2 => typeof(Bands2),
        3 => typeof(Bands3),
        4 => typeof(Bands4),
        _ => throw new System.ArgumentOutOfRangeException(nameof(bands), bands, "Version 4 and 5 tiles have 2, 3 or 4 bands (1 band is version 3's kernel)."),
    };

    /// <summary>Whether a product's epilogue sums per channel over its tile rows (forward statistics, BN-backward sums).</summary>
    private static bool HasEpilogueSums(BandedProduct product) => product is BandedProduct.Forward or BandedProduct.BackwardInputThroughBatchNorm;

    /// <summary>Every closed kernel of version 4 (for the PTX checks).</summary>
    public static System.Collections.Generic.IEnumerable<System.Reflection.MethodInfo> BandedKernels()
    {
        foreach (var product in System.Enum.GetValues<BandedProduct>())
            for (int m = 2; m <= 4; m++)
                foreach (var taps in System.Enum.GetValues<TapKind>())
                {
                    yield return BandedKernel(product, m, taps);
                    if (HasEpilogueSums(product)) yield return BandedKernel(product, m, taps, warpShuffles: true);
                }
    }
}
