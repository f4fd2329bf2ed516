using ILGPU;

namespace DenseGen.Kernels;

/// <summary>
/// BN-ReLU-Conv, version 4: version 3's software-pipelined loops (<c>ConvolutionKernels.Pipelined.cs</c>) with 8 x 8
/// register blocks on 64 x 128 tiles, for the products whose rows (output channels of the forward and weight gradient,
/// input channels of the backward-input) are many: DenseNet-121's bottleneck 1x1 convs (128 outputs), transitions, and
/// the backward-input of every conv reading 64 or more channels. Products with few rows (the growth convs' 12 or 32
/// output channels, BC-100's 48-channel bottlenecks) keep version 3's 4 x 4 blocks, which waste fewer padded rows.
/// What changes from version 3, whose forward Nsight Compute showed issue-bound at 0.56 instructions per cycle
/// per scheduler (benchmarks/RESULTS.md, run 4), each step's gathers costing about as many instructions as its
/// 128 multiply-adds:
/// - Each thread holds 8 x 8 results: per reduction index it reads 4 quads from shared memory (two of rows, two of
///   columns) for 64 multiply-adds, where a 4 x 4 block reads 2 for 16. A tile is 4 times version 3's (64 x 128 of
///   128 threads), so per multiply-add the gathers of a step (8 x (64 + 128) elements for 8 x 8192 multiply-adds) cost
///   a third of a 16 x 128 tile's and half of a 32 x 64 one's.
/// - The block is four 4 x 4 quadrants, each exactly a version 3 block of the tile's quarter-size geometry (32 x 64):
///   rows 4 Ty.. and 32 + 4 Ty.., columns 4 Tx.. and 64 + 4 Tx... Split this way (not 8 adjacent rows and columns) a
///   warp's 16-byte column reads are consecutive words (no bank conflicts), and the epilogues are version 3's,
///   called once per quadrant: the batch statistics and BN-backward sums of a quadrant go to the partial slot of the
///   64-pixel "virtual tile" it covers, so the finishing kernels see twice as many 64-wide tiles.
/// Unsplit and split (split-K along the reduction for small grids) as version 3; the same summation order within a
/// thread's product, so results differ from version 3 only where the split count or epilogue tiles differ.
/// Correct on every backend (no warp shuffles, no atomics); checked against the float64 references like versions 1 to 3.
/// </summary>
internal static partial class ConvolutionKernels
{
    /// <summary>Version 4's tile: 64 rows x 128 columns, 8 x 8 per thread of <see cref="TileThreads"/>.</summary>
    public const int WideTileRows = 64, WideTileColumns = 128;

    /// <summary>
    /// Whether version 4 gives a product of <paramref name="rows"/> rows its 64-row tiles: at least 64 rows, padded by at
    /// most a quarter more than version 3's 16- or 32-row tiles pad them (128 and 256 rows: none; 48: version 3; 80:
    /// 128 vs 96 rows, version 3).
    /// </summary>
    public static bool WideTilesFit(int rows)
    {
        int narrow = TileRowsFor(rows);
        return rows >= WideTileRows && 4 * Ceiling(rows, WideTileRows) * WideTileRows <= 5 * Ceiling(rows, narrow) * narrow;
    }

    /// <summary>
    /// A thread's 8 x 8 block of a 64 x 128 tile: four <see cref="Block4x4"/> quadrants, Q&lt;r&gt;&lt;c&gt; at rows
    /// 32 r + 4 Ty .. + 3 and columns 64 c + 4 Tx .. + 3 (Tx, Ty of the 16 x 8 thread grid).
    /// </summary>
    private struct Block8x8 : IRegisterBlock
    {
        public Block4x4 Q00, Q01, Q10, Q11;

        /// <summary>
        /// The 8 steps of one tile depth, unrolled by hand (ILGPU does not unroll): per step 4 shared loads of 16
        /// bytes and 64 multiply-adds. <paramref name="g"/>: the whole tile's geometry (64 x 128, blocks 8 wide).
        /// </summary>
        public void Steps8(ArrayView<Float4> left, ArrayView<Float4> right, TileGeometry g)
        {
            int l = g.Ty, r = g.Tx, ls = g.Rows / 4, rs = g.Columns / 4, lh = g.Rows / 8, rh = g.Columns / 8;
            Step(left, l, l + lh, right, r, r + rh);
            Step(left, l + ls, l + ls + lh, right, r + rs, r + rs + rh);
            Step(left, l + 2 * ls, l + 2 * ls + lh, right, r + 2 * rs, r + 2 * rs + rh);
            Step(left, l + 3 * ls, l + 3 * ls + lh, right, r + 3 * rs, r + 3 * rs + rh);
            Step(left, l + 4 * ls, l + 4 * ls + lh, right, r + 4 * rs, r + 4 * rs + rh);
            Step(left, l + 5 * ls, l + 5 * ls + lh, right, r + 5 * rs, r + 5 * rs + rh);
            Step(left, l + 6 * ls, l + 6 * ls + lh, right, r + 6 * rs, r + 6 * rs + rh);
            Step(left, l + 7 * ls, l + 7 * ls + lh, right, r + 7 * rs, r + 7 * rs + rh);
        }

        private void Step(ArrayView<Float4> left, int top, int bottom, ArrayView<Float4> right, int first, int second)
        {
            var a0 = left[top];
            var a1 = left[bottom];
            var b0 = right[first];
            var b1 = right[second];
            Q00.Multiply(a0, b0);
            Q01.Multiply(a0, b1);
            Q10.Multiply(a1, b0);
            Q11.Multiply(a1, b1);
        }
    }

    /// <summary>The whole tile's geometry of version 4 and the quarter-size geometry of its quadrants (version 3's 32 x 64).</summary>
    private static TileGeometry WideGeometry() => new(WideTileRows, WideTileColumns, 8);

    private static TileGeometry QuadrantGeometry() => new(WideTileRows / 2, WideTileColumns / 2, 4);

    /// <summary>
    /// Forward, version 4: as <see cref="ForwardPipelined"/> on 64 x 128 tiles. Launch
    /// Ceiling(OutChannels, 64) * Ceiling(pixels, 128) * splits groups of <see cref="TileThreads"/> threads. Unsplit, with
    /// <paramref name="withStatistics"/> = 1, it writes per-channel sums for 64-pixel tiles: statistics[(tile64 *
    /// OutChannels + co) * 2] for 2 * Ceiling(pixels, 128) tiles (the last may hold zeros).
    /// </summary>
    public static void ForwardWide(ConvShape s, ArrayView<float> input, ArrayView<float> weight, Prologue prologue, ArrayView<float> output,
        ArrayView<double> statistics, int withStatistics, int splitSteps, ArrayView<float> splitPartials)
    {
        var sums = SharedMemory.Allocate<double>(RowSums);
        var block = ForwardProduct<Block8x8>(s, input, weight, prologue, WideGeometry(), splitSteps, out int co0, out int pixel0, out int split);
        var q = QuadrantGeometry();
        int pixels = s.Batch * s.OutSize * s.OutSize, r1 = co0 + q.Rows, c1 = pixel0 + q.Columns;
        if (splitSteps >= Ceiling(s.InChannels * s.Kernel * s.Kernel, TileDepth))
        {
            StoreForwardBlock(s, block.Q00, q, pixel0, co0, output);
            StoreForwardBlock(s, block.Q01, q, c1, co0, output);
            StoreForwardBlock(s, block.Q10, q, pixel0, r1, output);
            StoreForwardBlock(s, block.Q11, q, c1, r1, output);
            // One uniform test before all four quadrants' barriers: PoCL computed wrong sums when each quadrant's
            // epilogue tested it between the previous quadrant's barriers and its own.
            if (withStatistics == 0) return;
            StatisticsTree(s, block.Q00, q, pixel0, co0, sums, statistics);
            StatisticsTree(s, block.Q01, q, c1, co0, sums, statistics);
            StatisticsTree(s, block.Q10, q, pixel0, r1, sums, statistics);
            StatisticsTree(s, block.Q11, q, c1, r1, sums, statistics);
            return;
        }
        StoreSplit(block.Q00, q, splitPartials, split, co0, s.OutChannels, pixel0, pixels);
        StoreSplit(block.Q01, q, splitPartials, split, co0, s.OutChannels, c1, pixels);
        StoreSplit(block.Q10, q, splitPartials, split, r1, s.OutChannels, pixel0, pixels);
        StoreSplit(block.Q11, q, splitPartials, split, r1, s.OutChannels, c1, pixels);
    }

    /// <summary>
    /// Backward-weights, version 4: as <see cref="BackwardWeightsPipelined"/> on 64 x 128 tiles (64 output channels x
    /// 128 weight columns). Launch Ceiling(OutChannels, 64) * Ceiling(K, 128) * splits groups; same partials.
    /// </summary>
    public static void BackwardWeightsWide(ConvShape s, ArrayView<float> input, Prologue prologue, ArrayView<float> dOut, ArrayView<float> partials, int chunk)
    {
        var block = WeightsProduct<Block8x8>(s, input, prologue, dOut, chunk, WideGeometry(), out int co0, out int k0, out int split);
        var q = QuadrantGeometry();
        WeightsEpilogue(s, block.Q00, q, split, co0, k0, partials);
        WeightsEpilogue(s, block.Q01, q, split, co0, k0 + q.Columns, partials);
        WeightsEpilogue(s, block.Q10, q, split, co0 + q.Rows, k0, partials);
        WeightsEpilogue(s, block.Q11, q, split, co0 + q.Rows, k0 + q.Columns, partials);
    }

    /// <summary>Backward-input with a plain input, version 4: as <see cref="BackwardInputPipelined"/> on 64 x 128 tiles.</summary>
    public static void BackwardInputWide(ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> dInput, int splitSteps, ArrayView<float> splitPartials)
    {
        var block = InputGradientProduct<Block8x8>(s, dOut, weight, WideGeometry(), splitSteps, out int ci0, out int q0, out int split);
        var q = QuadrantGeometry();
        int pixels = s.Batch * s.InSize * s.InSize, r1 = ci0 + q.Rows, c1 = q0 + q.Columns;
        if (splitSteps >= Ceiling(s.OutChannels * s.Kernel * s.Kernel, TileDepth))
        {
            InputGradientEpilogue(s, block.Q00, q, ci0, q0, dInput);
            InputGradientEpilogue(s, block.Q01, q, ci0, c1, dInput);
            InputGradientEpilogue(s, block.Q10, q, r1, q0, dInput);
            InputGradientEpilogue(s, block.Q11, q, r1, c1, dInput);
            return;
        }
        StoreSplit(block.Q00, q, splitPartials, split, ci0, s.InChannels, q0, pixels);
        StoreSplit(block.Q01, q, splitPartials, split, ci0, s.InChannels, c1, pixels);
        StoreSplit(block.Q10, q, splitPartials, split, r1, s.InChannels, q0, pixels);
        StoreSplit(block.Q11, q, splitPartials, split, r1, s.InChannels, c1, pixels);
    }

    /// <summary>
    /// Backward-input through BN-ReLU, version 4: as <see cref="BackwardInputThroughBatchNormPipelined"/> on 64 x 128
    /// tiles; unsplit, the channel sums go to partials for 2 * Ceiling(pixels, 128) tiles of 64 pixels.
    /// </summary>
    public static void BackwardInputThroughBatchNormWide(
        ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> input, Prologue prologue, BatchNormBackward bn, ArrayView<double> partials,
        int splitSteps, ArrayView<float> splitPartials)
    {
        var sums = SharedMemory.Allocate<double>(RowSums);
        var block = InputGradientProduct<Block8x8>(s, dOut, weight, WideGeometry(), splitSteps, out int ci0, out int q0, out int split);
        var q = QuadrantGeometry();
        int pixels = s.Batch * s.InSize * s.InSize, r1 = ci0 + q.Rows, c1 = q0 + q.Columns;
        if (splitSteps >= Ceiling(s.OutChannels * s.Kernel * s.Kernel, TileDepth))
        {
            ThroughBatchNormEpilogueTree(s, block.Q00, q, ci0, q0, input, prologue, bn, sums, partials);
            ThroughBatchNormEpilogueTree(s, block.Q01, q, ci0, c1, input, prologue, bn, sums, partials);
            ThroughBatchNormEpilogueTree(s, block.Q10, q, r1, q0, input, prologue, bn, sums, partials);
            ThroughBatchNormEpilogueTree(s, block.Q11, q, r1, c1, input, prologue, bn, sums, partials);
            return;
        }
        StoreSplit(block.Q00, q, splitPartials, split, ci0, s.InChannels, q0, pixels);
        StoreSplit(block.Q01, q, splitPartials, split, ci0, s.InChannels, c1, pixels);
        StoreSplit(block.Q10, q, splitPartials, split, r1, s.InChannels, q0, pixels);
        StoreSplit(block.Q11, q, splitPartials, split, r1, s.InChannels, c1, pixels);
    }
}
