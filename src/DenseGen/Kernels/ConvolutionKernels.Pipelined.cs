using ILGPU;

namespace DenseGen.Kernels;

/// <summary>
/// BN-ReLU-Conv, version 3: version 2's tiles (<c>ConvolutionKernels.Tiled.cs</c>: same tile shapes, 4 x 4 register
/// blocks, 16-byte shared loads, epilogues and reductions) with the global loads taken off the critical path.
/// What changes from version 2, whose loop has each thread wait out its gathers (every loaded element a global load, a
/// dependent BN scale/shift load, then a shared store, one after another, twice a barrier per 8-deep step) and which
/// ran on an H100 at 832 images/s on DenseNet-BC-100, the convolutions taking 88 % of the step (benchmarks/RESULTS.md):
/// - Software pipelining: a thread gathers its share of step s + 1's operand tiles into registers (<see cref="Staged8"/>)
///   before step s's product, and writes them to shared memory after it, so the loads' latency (hundreds of cycles)
///   overlaps the step's 128 multiply-adds instead of stalling the thread once per element.
/// - Double-buffered shared tiles: step s + 1 is written into the other buffer while step s is read, so one barrier per
///   step instead of two.
/// - The BN-ReLU prologue's scale and shift for a step's 8 reduction indices are looked up once per step, into the taps
///   table in shared memory, and applied when the staged values are stored: no per-element global load of them, and
///   no arithmetic waiting on a load in flight.
/// - A three-slot taps ring: step s + 2 is decoded while step s + 1 gathers from its slot and step s's stores read
///   theirs; each slot is rewritten only after a barrier that every reader of its previous step has passed.
/// - Weight gradients split over more pixel chunks (<c>KernelSet.PipelinedWeightGradientSplits</c>): about 1,024 groups
///   per launch, where version 2's at most 64 splits left most of a large GPU idle on a 3x3 growth conv's 4 tiles.
/// - The forward and backward-input split along the reduction where a grid has too few tiles for a large GPU (late
///   dense blocks), each split's partial product added by a finishing kernel (KernelSet.ForwardSplits).
/// - The epilogues' per-channel sums (batch statistics, BN-backward sums) reduced over a block row as a tree
///   (<see cref="SumRows4{TRows}"/>) rather than by one thread per row (written after the last GPU measurement; see
///   benchmarks/RESULTS.md).
/// An unsplit product adds along the reduction in version 2's order; split ones add float32 partials in float64, and
/// the weight gradient's splits are added lane by lane: deterministic for a given shape, not bit-identical to version 2.
/// Correct on every backend (no warp shuffles, no atomics); checked against the float64 references like versions 1
/// and 2, split and unsplit. The three loops (<see cref="ForwardProduct{TBlock, TTaps}"/>, <see cref="InputGradientProduct{TBlock, TTaps}"/>,
/// <see cref="WeightsProduct{TBlock, TTaps}"/>) are generic over the register block: version 4 (ConvolutionKernels.Banded.cs)
/// runs them with m stacked 4 x 4 blocks.
/// </summary>
internal static partial class ConvolutionKernels
{
    /// <summary>Taps slots: three steps of <see cref="TileDepth"/>.</summary>
    private const int RingSlots = 3 * TileDepth;

    /// <summary>Floats of one buffer of a weight-side (rows) or pixel-side (columns) tile.</summary>
    private const int RowBuffer = TileDepth * 4 * BandRows, ColumnBuffer = TileDepth * MaxTileColumns;

    /// <summary>
    /// A product loop's two double-buffered shared tiles, [TileDepth][rows] (Rows: weights, or dY in the weight gradient)
    /// and [TileDepth][columns] (Columns: pixels, or the weight gradient's input columns), each row padded by the register
    /// block's <see cref="IRegisterBlock.TilePad"/> (0 for the FFMA blocks: versions 3 and 4's layout; a constant per
    /// block type, so the strides fold into the loops' code as before).
    /// </summary>
    private readonly struct ProductTiles
    {
        public ArrayView<float> Rows { get; init; }
        public ArrayView<Float4> RowQuads { get; init; }
        public ArrayView<float> Columns { get; init; }
        public ArrayView<Float4> ColumnQuads { get; init; }

        /// <summary>Floats added to each row (the block's <see cref="IRegisterBlock.TilePad"/>).</summary>
        public int Pad { get; init; }

        /// <summary>Floats from one row (reduction index) of a tile to the next, and of one buffer.</summary>
        public int RowStride { get; init; }

        /// <inheritdoc cref="RowStride"/>
        public int ColumnStride { get; init; }

        /// <inheritdoc cref="RowStride"/>
        public int RowBuffer { get; init; }

        /// <inheritdoc cref="RowStride"/>
        public int ColumnBuffer { get; init; }

        /// <summary>Buffer <paramref name="buffer"/> (0 or 1) of the row-side tile as quads, for <see cref="IRegisterBlock.Steps8"/>.</summary>
        public ArrayView<Float4> RowStep(int buffer) => RowQuads.SubView(buffer * RowBuffer / 4, RowBuffer / 4);

        /// <summary>Buffer <paramref name="buffer"/> of the column-side tile as quads.</summary>
        public ArrayView<Float4> ColumnStep(int buffer) => ColumnQuads.SubView(buffer * ColumnBuffer / 4, ColumnBuffer / 4);

        /// <summary>
        /// With 1x1 quads: thread t's first quad of a column-side buffer (its row and column from <c>QuadPlace</c>; in
        /// the unpadded layout simply t) and the distance to its second, 4 rows down.
        /// </summary>
        public (int First, int Second) Quads(int t, int loadRow, int loadColumn) =>
            (Pad == 0 ? t : loadRow * (ColumnStride / 4) + loadColumn / 4, QuadRowStep * (ColumnStride / 4));
    }

    /// <summary>The shared tiles of a product of <paramref name="g"/>'s geometry with <typeparamref name="TBlock"/>'s padding.</summary>
    private static ProductTiles SharedTiles<TBlock>(TileGeometry g) where TBlock : struct, IRegisterBlock
    {
        int pad = default(TBlock).TilePad, rowBuffer = RowBuffer + TileDepth * pad, columnBuffer = ColumnBuffer + TileDepth * pad;
        var (rows, rowQuads) = SharedTile(2 * rowBuffer);
        var (columns, columnQuads) = SharedTile(2 * columnBuffer);
        return new ProductTiles
        {
            Rows = rows, RowQuads = rowQuads, Columns = columns, ColumnQuads = columnQuads, Pad = pad,
            RowStride = g.Rows + pad, ColumnStride = g.Columns + pad, RowBuffer = rowBuffer, ColumnBuffer = columnBuffer,
        };
    }

    /// <summary>
    /// Decoded reduction indices with the prologue's BN scale and shift of their channel, in shared memory: a ring of
    /// three steps (forward, backward-input) or a tile's fixed columns (backward-weights). Offset is the tap's place
    /// relative to its window's origin, c * channelStride + sign * (y * rowStride + x), so that a gather is one add and
    /// two unsigned bounds checks. Past the end of the reduction Channel is -1 and Y, X lie far outside any image (the
    /// bounds checks reject them); Scale, Shift are 1, 0 there and where the prologue is off.
    /// </summary>
    private struct TapTable
    {
        public ArrayView<int> Channel, Y, X, Offset;
        public ArrayView<float> Scale, Shift;

        /// <summary>Y and X past the reduction's end: fails every bounds check, also after subtracting a padding.</summary>
        private const int Far = 1 << 24;

        public static TapTable Allocate(int count) => new()
        {
            Channel = SharedMemory.Allocate<int>(count), Y = SharedMemory.Allocate<int>(count), X = SharedMemory.Allocate<int>(count),
            Offset = SharedMemory.Allocate<int>(count), Scale = SharedMemory.Allocate<float>(count), Shift = SharedMemory.Allocate<float>(count),
        };

        public readonly void Decode(int slot, int k, int depth, int kernel, Prologue prologue, int channelStride, int rowStride, int sign)
        {
            // k = (c, y, x): the paper's kernels (1x1, 3x3) divide by constants (a multiply-high each), any other size
            // by a runtime divisor (tens of instructions each). The threads decoding run while the rest of the group
            // waits at the next barrier: once per reduction step.
            int c, y, x;
            if (kernel == 1) { c = k; y = 0; x = 0; }
            else if (kernel == 3) { c = IndexMath.Quotient(k, 9); int r = k - 9 * c; y = IndexMath.Quotient(r, 3); x = r - 3 * y; }
            else { int kk = kernel * kernel, r; c = k / kk; r = k - c * kk; y = r / kernel; x = r - y * kernel; }
            bool inside = k < depth;
            Channel[slot] = inside ? c : -1;
            Y[slot] = inside ? y : Far;
            X[slot] = inside ? x : Far;
            Offset[slot] = inside ? c * channelStride + sign * (y * rowStride + x) : -1; // -1: the 1 x 1 gathers' end test
            bool apply = inside && prologue.Enabled != 0;
            Scale[slot] = apply ? prologue.Scale[c] : 1f;
            Shift[slot] = apply ? prologue.Shift[c] : 0f;
        }

        /// <summary>The value written to the tile: relu(bn(x)) with the slot's channel, or x without a prologue; 0 outside.</summary>
        public readonly float Activate(int slot, float x, bool inside, int prologueEnabled)
        {
            // Two selects, no branch: this runs for 8 elements per thread and step of the forward's loop. Without a
            // prologue Scale, Shift are 1, 0 (x * 1 + 0 is x, NaN included) and the ReLU is skipped.
            return Activated(x * Scale[slot] + Shift[slot], inside, prologueEnabled);
        }

        /// <summary>
        /// Four pixels of one reduction index (a quad of <see cref="TapKind.OneByOneQuads"/>) as <see cref="Activate"/>
        /// makes each: one scale and shift from shared memory for the four.
        /// </summary>
        public readonly Float4 ActivateQuad(int slot, float x0, float x1, float x2, float x3, bool inside, int prologueEnabled)
        {
            float scale = Scale[slot], shift = Shift[slot];
            return new Float4(Activated(x0 * scale + shift, inside, prologueEnabled), Activated(x1 * scale + shift, inside, prologueEnabled),
                Activated(x2 * scale + shift, inside, prologueEnabled), Activated(x3 * scale + shift, inside, prologueEnabled));
        }

        private static float Activated(float y, bool inside, int prologueEnabled)
        {
            float activated = (y > 0f) | prologueEnabled == 0 ? y : 0f;
            return inside ? activated : 0f;
        }

        /// <summary>
        /// The table from <paramref name="slot"/> on: a step's gathers and stores then index it by their row, a constant
        /// in banded tiles, which ptxas folds into the shared loads' offsets (slot + row cost an address each).
        /// </summary>
        public readonly TapTable From(int slot) => new()
        {
            Channel = Channel.SubView(slot), Y = Y.SubView(slot), X = X.SubView(slot),
            Offset = Offset.SubView(slot), Scale = Scale.SubView(slot), Shift = Shift.SubView(slot),
        };
    }

    /// <summary>
    /// A thread's share of one step's pixel-side tile, held in registers between the gather and the store (8 scalars,
    /// not an array, so that ILGPU keeps them in registers). Inside bit j: element j was read from the image (padding
    /// and the reduction's end stay 0, before and after the prologue).
    /// </summary>
    private struct Staged8
    {
        public float V0, V1, V2, V3, V4, V5, V6, V7;
        public int Inside;
    }

    /// <summary>
    /// This thread's column of a step's pixel-side tile, its first row and the rows between its elements. A banded tile
    /// (128 columns, one per thread) folds to (t, 0, 1) at compile time, so the gathers' and stores' tests of the row
    /// against the tile depth vanish from version 4's loops; version 3's 64-column tiles compute them.
    /// </summary>
    private static void LoadPlace(TileGeometry g, out int column, out int row, out int rowStep)
    {
        int t = Group.IdxX;
        bool whole = g.Columns == TileThreads;
        column = whole ? t : t % g.Columns;
        row = whole ? 0 : t / g.Columns;
        rowStep = TileThreads / g.Columns;
    }

    /// <summary>Step <paramref name="step"/>'s first slot in a three-step taps ring.</summary>
    private static int RingSlot(int step) => IndexMath.Remainder(step, 3) * TileDepth;

    /// <summary>
    /// Gather of one image element into registers: x at tap slot + kk of the window whose origin is (y0, x0), at
    /// windowBase = image base + y0 * InSize + x0, raw (the prologue is applied at the store). Rows past the step
    /// (kk >= 8) are not this thread's. Taps decoded with <see cref="ImageTaps"/>.
    /// </summary>
    private static float GatherImage<TTaps>(ConvShape s, ArrayView<float> input, bool pixelValid, int windowBase, int y0, int x0, TapTable taps, int slot, int kk, int bit, ref int inside)
        where TTaps : struct, ITaps
    {
        if (kk >= TileDepth) return 0f; // folded away in banded tiles (LoadPlace)
        // Without branches: an element outside (a pixel past the product, the reduction's end, padding) loads element 0
        // of the view, always there, and is dropped.
        bool valid;
        if (default(TTaps).Unpadded)
        {
            // 1 x 1, stride 1, no padding: the window is the pixel itself; only the reduction's end (offset -1) is outside.
            valid = pixelValid & taps.Offset[slot + kk] >= 0;
        }
        else
        {
            int iy = y0 + taps.Y[slot + kk], ix = x0 + taps.X[slot + kk];
            valid = pixelValid & (uint)iy < (uint)s.InSize & (uint)ix < (uint)s.InSize; // padding, or past the reduction
        }
        float value = input[valid ? windowBase + taps.Offset[slot + kk] : 0];
        inside |= valid ? bit : 0;
        return valid ? value : 0f;
    }

    /// <summary>Decodes reduction index k = (ci, ky, kx) of an image gather into slot (offset ci * InSize^2 + ky * InSize + kx).</summary>
    private static void ImageTaps<TTaps>(TapTable taps, ConvShape s, int slot, int k, Prologue prologue) where TTaps : struct, ITaps
    {
        int kernel = default(TTaps).Kernel(s);
        taps.Decode(slot, k, s.InChannels * kernel * kernel, kernel, prologue, s.InSize * s.InSize, s.InSize, 1);
    }

    /// <summary>Decodes reduction index k = (co, ky, kx) of an output-gradient gather (offset co * OutSize^2 - ky * OutSize - kx).</summary>
    private static void GradientTaps<TTaps>(TapTable taps, ConvShape s, int slot, int k) where TTaps : struct, ITaps
    {
        int kernel = default(TTaps).Kernel(s);
        taps.Decode(slot, k, s.OutChannels * kernel * kernel, kernel, default, s.OutSize * s.OutSize, s.OutSize, -1);
    }

    private static void StoreImage(ArrayView<float> tile, int at, int kk, int columns, TapTable taps, int slot, float value, int inside, int bit, int prologueEnabled)
    {
        if (kk < TileDepth) tile[at + kk * columns] = taps.Activate(slot + kk, value, (inside & bit) != 0, prologueEnabled);
    }

    /// <summary>
    /// Forward, version 3: out = W * relu(bn(X)) as version 2's tiled implicit GEMM, software-pipelined. Launch with
    /// <see cref="TileGroups"/>(OutChannels, Batch * OutSize^2, tileRows) * splits groups of <see cref="TileThreads"/>
    /// threads. With one split (<paramref name="splitSteps"/> covering the whole reduction) it writes the output and,
    /// with <paramref name="withStatistics"/> = 1, the per-tile channel sums, as <see cref="ForwardTiled"/> does. With
    /// several (split-K, for the small grids of late dense blocks: BC-100's third block has 32 tiles for a GPU of 132
    /// multiprocessors), split i reduces steps [i * splitSteps, (i + 1) * splitSteps) into
    /// splitPartials[(i * OutChannels + co) * pixels + p], and <see cref="FinishForwardSplits"/> adds them.
    /// </summary>
    public static void ForwardPipelined(ConvShape s, ArrayView<float> input, ArrayView<float> weight, Prologue prologue, ArrayView<float> output, int tileRows,
        ArrayView<double> statistics, int withStatistics, int splitSteps, ArrayView<float> splitPartials)
    {
        var sums = SharedMemory.Allocate<double>(RowSums);
        var g = new TileGeometry(tileRows);
        var block = ForwardProduct<Block4x4, AnyTaps>(s, input, weight, prologue, g, splitSteps, out int co0, out int pixel0, out int split);
        if (splitSteps >= Ceiling(s.InChannels * s.Kernel * s.Kernel, TileDepth)) ForwardEpilogueTree(s, block, g, pixel0, co0, output, sums, statistics, withStatistics);
        else StoreSplit(block, g, splitPartials, split, co0, s.OutChannels, pixel0, s.Batch * s.OutSize * s.OutSize);
    }

    /// <summary>
    /// The forward's product for one tile (g.Rows output channels x g.Columns pixels) and split, software-pipelined:
    /// the loop of versions 3 and 4, generic over the register block. Returns this thread's block; co0, pixel0: the
    /// tile's first channel and pixel.
    /// </summary>
    private static TBlock ForwardProduct<TBlock, TTaps>(ConvShape s, ArrayView<float> input, ArrayView<float> weight, Prologue prologue, TileGeometry g, int splitSteps,
        out int co0, out int pixel0, out int split) where TBlock : struct, IRegisterBlock where TTaps : struct, ITaps
    {
        var tiles = SharedTiles<TBlock>(g); // weights x pixels
        var taps = TapTable.Allocate(RingSlots);
        int t = Group.IdxX;
        int kernel = default(TTaps).Kernel(s);
        int outArea = s.OutSize * s.OutSize, pixels = s.Batch * outArea, depth = s.InChannels * kernel * kernel;
        SplitTile(s.OutChannels, pixels, depth, splitSteps, g, out co0, out pixel0, out split, out int kFirst, out int count);

        // This thread's pixel of the input tile (fixed for the whole reduction) and its rows kk = loadRow + j * rowStep;
        // with quads its first pixel of four and rows loadRow, loadRow + 4.
        int loadColumn, loadRow, rowStep;
        if (default(TTaps).Quads) QuadPlace(out loadColumn, out loadRow, out rowStep);
        else LoadPlace(g, out loadColumn, out loadRow, out rowStep);
        int p = pixel0 + loadColumn;
        bool pixelValid = p < pixels;
        int n = p / outArea, pr = p - n * outArea, oy = pr / s.OutSize, ox = pr - oy * s.OutSize;
        int y0 = oy * s.Stride - s.Padding, x0 = ox * s.Stride - s.Padding;
        int windowBase = n * s.InStride * s.InSize * s.InSize + y0 * s.InSize + x0; // this pixel's window origin
        // This thread's weights: elements t + 128 j of the [TileDepth][rows] tile (k fastest: contiguous in memory).
        int weightElements = TileDepth * g.Rows;

        if (t < 2 * TileDepth) ImageTaps<TTaps>(taps, s, t, kFirst + t, prologue); // local steps 0 and 1
        Group.Barrier();

        // Step 0's gathers; thereafter each step's loads are issued one step ahead.
        int slot = 0;
        var w = default(Staged4);
        GatherWeights(s, weight, depth, co0, kFirst, weightElements, ref w);
        var x = default(Staged8);
        if (default(TTaps).Quads) GatherImageQuads(input, pixelValid, windowBase, taps, slot, loadRow, ref x);
        else GatherImages<TTaps>(s, input, pixelValid, windowBase, y0, x0, taps, slot, loadRow, rowStep, ref x);

        var block = default(TBlock);
        block.Begin();
        // With quads, this thread's first quad of a buffer and the distance to its second (4 rows down).
        var (quadAt, quadSecond) = tiles.Quads(t, loadRow, loadColumn);
        for (int i = 0; i < count; i++)
        {
            // Store step i's staged values into buffer i % 2 (read two steps ago: every thread has passed a barrier since).
            int buffer = i & 1, at = buffer * tiles.ColumnBuffer + loadColumn;
            StoreWeights(tiles.Rows, buffer * tiles.RowBuffer, weightElements, tiles.RowStride, w);
            if (default(TTaps).Quads) StoreImageQuads(tiles.ColumnQuads, buffer * (tiles.ColumnBuffer / 4) + quadAt, quadSecond, taps, slot + loadRow, x, prologue.Enabled);
            else StoreImages(tiles.Columns, at, loadRow, rowStep, tiles.ColumnStride, taps, slot, x, prologue.Enabled);
            Group.Barrier();

            // Decode step i + 2 into the slot step i - 1 used (its last readers were before this barrier).
            if (t < TileDepth && i + 2 < count) ImageTaps<TTaps>(taps, s, RingSlot(i + 2) + t, kFirst + (i + 2) * TileDepth + t, prologue);
            // Issue step i + 1's loads now; they complete while step i multiplies.
            if (i + 1 < count)
            {
                slot = RingSlot(i + 1);
                GatherWeights(s, weight, depth, co0, kFirst + (i + 1) * TileDepth, weightElements, ref w);
                if (default(TTaps).Quads) GatherImageQuads(input, pixelValid, windowBase, taps, slot, loadRow, ref x);
                else GatherImages<TTaps>(s, input, pixelValid, windowBase, y0, x0, taps, slot, loadRow, rowStep, ref x);
            }
            block.Steps8(tiles.RowStep(buffer), tiles.ColumnStep(buffer), g);
        }
        return block;
    }

    /// <summary>
    /// This group's tile and split of a rows x columns product reduced over depth in splits of splitSteps steps (tiles
    /// column-fastest, then splits): the tile's first row and column, the split, its first reduction index kFirst and
    /// its step count (local step i covers kFirst + 8 i ...).
    /// </summary>
    private static void SplitTile(int rows, int columns, int depth, int splitSteps, TileGeometry g,
        out int row0, out int column0, out int split, out int kFirst, out int count)
    {
        int columnTiles = Ceiling(columns, g.Columns), tiles = Ceiling(rows, g.Rows) * columnTiles, steps = Ceiling(depth, TileDepth);
        split = Grid.IdxX / tiles;
        int tile = Grid.IdxX - split * tiles;
        column0 = tile % columnTiles * g.Columns;
        row0 = tile / columnTiles * g.Rows;
        kFirst = split * splitSteps * TileDepth;
        count = steps - split * splitSteps < splitSteps ? steps - split * splitSteps : splitSteps;
    }

    /// <summary>Doubles of shared memory for <see cref="SumRows4{TRows}"/>: 8 per thread.</summary>
    private const int RowSums = 8 * TileThreads;

    /// <summary>Version 3's forward epilogue: version 2's output stores, statistics summed by <see cref="SumRows4{TRows}"/>.</summary>
    private static void ForwardEpilogueTree(ConvShape s, Block4x4 block, TileGeometry g, int pixel0, int co0, ArrayView<float> output,
        ArrayView<double> sums, ArrayView<double> statistics, int withStatistics)
    {
        StoreForwardBlock(s, block, g, pixel0, co0, output);
        if (withStatistics == 0) return; // uniform over the group
        StatisticsTree<TreeRowSums>(s, block, g, pixel0, co0, sums, statistics);
    }

    /// <summary>
    /// A forward block's per-channel sums and sums of squares, summed over its block row by <see cref="SumRows4{TRows}"/> into
    /// statistics[(pixel0 / g.Columns * OutChannels + co) * 2]. Every thread of the group must call it.
    /// </summary>
    private static void StatisticsTree<TRows>(ConvShape s, Block4x4 block, TileGeometry g, int pixel0, int co0, ArrayView<double> sums, ArrayView<double> statistics)
        where TRows : struct, IRowSums
    {
        int pixels = s.Batch * s.OutSize * s.OutSize, first = pixel0 + g.Column;
        RowStatistics(block, 0, first, pixels, out double a0, out double b0);
        RowStatistics(block, 1, first, pixels, out double a1, out double b1);
        RowStatistics(block, 2, first, pixels, out double a2, out double b2);
        RowStatistics(block, 3, first, pixels, out double a3, out double b3);
        SumRows4<TRows>(sums, g, a0, b0, a1, b1, a2, b2, a3, b3, statistics, pixel0 / g.Columns, s.OutChannels, co0 + g.Row);
    }

    /// <summary>Version 3's backward-input epilogue through BN-ReLU: version 2's per-element terms, channel sums by <see cref="SumRows4{TRows}"/>.</summary>
    private static void ThroughBatchNormEpilogueTree<TRows>(ConvShape s, Block4x4 block, TileGeometry g, int ci0, int q0, ArrayView<float> input, Prologue prologue,
        BatchNormBackward bn, ArrayView<double> sums, ArrayView<double> partials) where TRows : struct, IRowSums
    {
        int inArea = s.InSize * s.InSize, pixels = s.Batch * inArea, first = q0 + g.Column, c = ci0 + g.Row;
        RowBatchNorm(s, block, 0, c, first, pixels, inArea, input, prologue, bn, out double a0, out double b0);
        RowBatchNorm(s, block, 1, c + 1, first, pixels, inArea, input, prologue, bn, out double a1, out double b1);
        RowBatchNorm(s, block, 2, c + 2, first, pixels, inArea, input, prologue, bn, out double a2, out double b2);
        RowBatchNorm(s, block, 3, c + 3, first, pixels, inArea, input, prologue, bn, out double a3, out double b3);
        SumRows4<TRows>(sums, g, a0, b0, a1, b1, a2, b2, a3, b3, partials, q0 / g.Columns, s.InChannels, c);
    }

    /// <summary>A thread's eight image gathers of one step (rows loadRow + j * rowStep), into registers.</summary>
    private static void GatherImages<TTaps>(ConvShape s, ArrayView<float> input, bool pixelValid, int windowBase, int y0, int x0, TapTable taps, int slot, int loadRow, int rowStep, ref Staged8 x)
        where TTaps : struct, ITaps
    {
        taps = taps.From(slot);
        slot = 0;
        x.Inside = 0;
        x.V0 = GatherImage<TTaps>(s, input, pixelValid, windowBase, y0, x0, taps, slot, loadRow, 1, ref x.Inside);
        x.V1 = GatherImage<TTaps>(s, input, pixelValid, windowBase, y0, x0, taps, slot, loadRow + rowStep, 2, ref x.Inside);
        x.V2 = GatherImage<TTaps>(s, input, pixelValid, windowBase, y0, x0, taps, slot, loadRow + 2 * rowStep, 4, ref x.Inside);
        x.V3 = GatherImage<TTaps>(s, input, pixelValid, windowBase, y0, x0, taps, slot, loadRow + 3 * rowStep, 8, ref x.Inside);
        x.V4 = GatherImage<TTaps>(s, input, pixelValid, windowBase, y0, x0, taps, slot, loadRow + 4 * rowStep, 16, ref x.Inside);
        x.V5 = GatherImage<TTaps>(s, input, pixelValid, windowBase, y0, x0, taps, slot, loadRow + 5 * rowStep, 32, ref x.Inside);
        x.V6 = GatherImage<TTaps>(s, input, pixelValid, windowBase, y0, x0, taps, slot, loadRow + 6 * rowStep, 64, ref x.Inside);
        x.V7 = GatherImage<TTaps>(s, input, pixelValid, windowBase, y0, x0, taps, slot, loadRow + 7 * rowStep, 128, ref x.Inside);
    }

    /// <summary>Stores a step's staged image values, activated, at rows loadRow + j * rowStep of the tile.</summary>
    private static void StoreImages(ArrayView<float> tile, int at, int loadRow, int rowStep, int columns, TapTable taps, int slot, Staged8 x, int prologueEnabled)
    {
        // The step's taps and this thread's tile column as views offset once, rows at constant offsets in banded tiles
        // (TapTable.From): ptxas folds them into the stores. (This tile view made PoCL compute wrong forwards in session 9,
        // when ILGPU's OpenCL barriers did not fence shared memory, OpenClBarriers; it passes now, and did without the
        // fence in the one run tried, so that cause is likely, not shown.)
        taps = taps.From(slot);
        slot = 0;
        tile = tile.SubView(at);
        at = 0;
        StoreImage(tile, at, loadRow, columns, taps, slot, x.V0, x.Inside, 1, prologueEnabled);
        StoreImage(tile, at, loadRow + rowStep, columns, taps, slot, x.V1, x.Inside, 2, prologueEnabled);
        StoreImage(tile, at, loadRow + 2 * rowStep, columns, taps, slot, x.V2, x.Inside, 4, prologueEnabled);
        StoreImage(tile, at, loadRow + 3 * rowStep, columns, taps, slot, x.V3, x.Inside, 8, prologueEnabled);
        StoreImage(tile, at, loadRow + 4 * rowStep, columns, taps, slot, x.V4, x.Inside, 16, prologueEnabled);
        StoreImage(tile, at, loadRow + 5 * rowStep, columns, taps, slot, x.V5, x.Inside, 32, prologueEnabled);
        StoreImage(tile, at, loadRow + 6 * rowStep, columns, taps, slot, x.V6, x.Inside, 64, prologueEnabled);
        StoreImage(tile, at, loadRow + 7 * rowStep, columns, taps, slot, x.V7, x.Inside, 128, prologueEnabled);
    }

    /// <summary>
    /// With quads (<see cref="TapKind.OneByOneQuads"/>, 128-column tiles): thread t's first pixel of four, 4 (t % 32), and
    /// its rows t / 32 and t / 32 + 4 of a step. Its two quads of the tile are then quads t and t + 128 of the buffer.
    /// </summary>
    private static void QuadPlace(out int column, out int row, out int rowStep)
    {
        int t = Group.IdxX;
        column = 4 * (t % QuadsPerRow);
        row = t / QuadsPerRow;
        rowStep = QuadRowStep;
    }

    /// <summary>Quads in a 128-column tile row, and the rows between a thread's two quads of a step.</summary>
    private const int QuadsPerRow = BandColumns / 4, QuadRowStep = TileThreads / QuadsPerRow;

    /// <summary>
    /// A thread's two quad gathers of one step (<see cref="QuadPlace"/>), raw, into registers: V0..V3 of row loadRow and
    /// V4..V7 of row loadRow + 4; Inside bits 1 and 2. The image's view is 16-byte aligned and windowBase + the tap's
    /// offset a multiple of 4 (<see cref="Aligned16"/>): each is one 16-byte load.
    /// </summary>
    private static void GatherImageQuads(ArrayView<float> input, bool pixelValid, int windowBase, TapTable taps, int slot, int loadRow, ref Staged8 x)
    {
        var quads = ILGPU.Runtime.ArrayViewExtensions.AsAligned16(input).Cast<Float4>();
        taps = taps.From(slot);
        x.Inside = 0;
        var a = GatherQuad(quads, pixelValid, windowBase, taps, loadRow, 1, ref x.Inside);
        var b = GatherQuad(quads, pixelValid, windowBase, taps, loadRow + QuadRowStep, 2, ref x.Inside);
        x.V0 = a.X; x.V1 = a.Y; x.V2 = a.Z; x.V3 = a.W;
        x.V4 = b.X; x.V5 = b.Y; x.V6 = b.Z; x.V7 = b.W;
    }

    /// <summary>
    /// The quad of tap kk at pixels windowBase .. + 3 (1x1: the tap is a channel, offset c * area; -1 past the
    /// reduction, where quad 0, always there, is read and dropped).
    /// </summary>
    private static Float4 GatherQuad(ArrayView<Float4> quads, bool pixelValid, int windowBase, TapTable taps, int kk, int bit, ref int inside)
    {
        int offset = taps.Offset[kk];
        bool valid = pixelValid & offset >= 0;
        inside |= valid ? bit : 0;
        return quads[valid ? (windowBase + offset) >> 2 : 0];
    }

    /// <summary>Stores a step's two staged quads, activated with tap slots slot and slot + 4, at quads at and at + 128 of the tile.</summary>
    private static void StoreImageQuads(ArrayView<Float4> tile, int at, int second, TapTable taps, int slot, Staged8 x, int prologueEnabled)
    {
        tile[at] = taps.ActivateQuad(slot, x.V0, x.V1, x.V2, x.V3, (x.Inside & 1) != 0, prologueEnabled);
        tile[at + second] = taps.ActivateQuad(slot + QuadRowStep, x.V4, x.V5, x.V6, x.V7, (x.Inside & 2) != 0, prologueEnabled);
    }

    /// <summary>Writes a tile's block as split <paramref name="split"/>'s partial product: partials[(split * rows + r) * columns + c].</summary>
    private static void StoreSplit(Block4x4 block, TileGeometry g, ArrayView<float> partials, int split, int r0, int rows, int c0, int columns)
    {
        for (int i = 0; i < 4; i++)
        {
            int r = r0 + g.Row + i;
            if (r >= rows) continue;
            block.Row(i, out float v0, out float v1, out float v2, out float v3);
            int c = c0 + g.Column, at = (split * rows + r) * columns + c;
            if (c < columns) partials[at] = v0;
            if (c + 1 < columns) partials[at + 1] = v1;
            if (c + 2 < columns) partials[at + 2] = v2;
            if (c + 3 < columns) partials[at + 3] = v3;
        }
    }

    /// <summary>
    /// Adds a split forward's partial products in split order (float64), writes the output and, with
    /// <paramref name="withStatistics"/> = 1, each (channel, chunk)'s sum and sum of squares into
    /// statistics[(chunk * OutChannels + co) * 2] for <see cref="FinishStatisticsFromTiles"/> (tiles = chunks). Launch
    /// OutChannels * chunks groups (channel fastest); a group's threads stride over its chunk's pixels.
    /// </summary>
    public static void FinishForwardSplits(ConvShape s, int splits, ArrayView<float> partials, ArrayView<float> output, int chunks, ArrayView<double> statistics, int withStatistics)
    {
        var shared = SharedMemory.Allocate<double>(GroupReduce.MaxGroupSize);
        int co = Grid.IdxX % s.OutChannels, chunk = Grid.IdxX / s.OutChannels;
        int outArea = s.OutSize * s.OutSize, pixels = s.Batch * outArea;
        double sum = 0, squares = 0;
        for (int p = chunk * Group.DimX + Group.IdxX; p < pixels; p += chunks * Group.DimX)
        {
            double v = 0;
            for (int split = 0; split < splits; split++) v += partials[(split * s.OutChannels + co) * pixels + p];
            float y = (float)v;
            int n = p / outArea;
            output[(n * s.OutStride + s.OutOffset + co) * outArea + p - n * outArea] = y;
            sum += y;
            squares += (double)y * y;
        }
        if (withStatistics == 0) return; // uniform over the group
        double total = GroupReduce.Sum(shared, sum), totalSquares = GroupReduce.Sum(shared, squares);
        if (Group.IdxX == 0)
        {
            statistics[(chunk * s.OutChannels + co) * 2] = total;
            statistics[(chunk * s.OutChannels + co) * 2 + 1] = totalSquares;
        }
    }

    /// <summary>
    /// A thread's share of one step's rows-side tile in registers (weights, or the weight gradient's dY): four elements,
    /// for tiles of up to 64 rows (version 4's four bands; 32-row tiles leave W2, W3 zero).
    /// </summary>
    private struct Staged4
    {
        public float W0, W1, W2, W3;
    }

    /// <summary>W[co0 + m, k0 + kk] for this thread's elements e = m * TileDepth + kk of a [TileDepth][rows] weight tile (0 outside).</summary>
    private static void GatherWeights(ConvShape s, ArrayView<float> weight, int depth, int co0, int k0, int elements, ref Staged4 w)
    {
        w.W0 = GatherWeight(s, weight, depth, co0, k0, 0, elements);
        w.W1 = GatherWeight(s, weight, depth, co0, k0, 1, elements);
        w.W2 = GatherWeight(s, weight, depth, co0, k0, 2, elements);
        w.W3 = GatherWeight(s, weight, depth, co0, k0, 3, elements);
    }

    private static float GatherWeight(ConvShape s, ArrayView<float> weight, int depth, int co0, int k0, int j, int elements)
    {
        if (!OwnsElement(j, elements)) return 0f;
        // Element e = t + 128 j is row e / 8 = t / 8 + 16 j, column e % 8 = t % 8 (128 j is a multiple of 8): written so,
        // the column and the row's base are the same for every j, and each j adds a constant.
        int t = Group.IdxX, co = co0 + t / TileDepth + j * (TileThreads / TileDepth), k = k0 + IndexMath.Remainder(t, TileDepth);
        bool valid = co < s.OutChannels & k < depth;
        float value = weight[valid ? co * depth + k : 0]; // without a branch, as the image gathers
        return valid ? value : 0f;
    }

    /// <summary>
    /// Whether element t + j * 128 of a weight tile of <paramref name="elements"/> (8 x 16 m: a multiple of the 128
    /// threads) is in it: the same for every thread, and a constant where the tile's rows are (version 4).
    /// </summary>
    private static bool OwnsElement(int j, int elements) => j * TileThreads < elements;

    /// <summary>Stores a step's staged weights (elements t + 128 j) transposed into the [TileDepth][rows] tile at rowBase.</summary>
    private static void StoreWeights(ArrayView<float> tiles, int rowBase, int elements, int rows, Staged4 w)
    {
        StoreWeight(tiles, rowBase, 0, elements, rows, w.W0);
        StoreWeight(tiles, rowBase, 1, elements, rows, w.W1);
        StoreWeight(tiles, rowBase, 2, elements, rows, w.W2);
        StoreWeight(tiles, rowBase, 3, elements, rows, w.W3);
    }

    private static void StoreWeight(ArrayView<float> tiles, int rowBase, int j, int elements, int rows, float value)
    {
        int t = Group.IdxX; // element t + 128 j: column t % 8, row t / 8 + 16 j (GatherWeight)
        if (OwnsElement(j, elements)) tiles[rowBase + IndexMath.Remainder(t, TileDepth) * rows + t / TileDepth + j * (TileThreads / TileDepth)] = value;
    }

    /// <summary>
    /// Backward-input, versions 3 and 4: version 2's dX = W^T dY tile (<see cref="InputGradientTile"/>), software-pipelined
    /// as <see cref="ForwardProduct{TBlock, TTaps}"/>, generic over the register block.
    /// </summary>
    private static TBlock InputGradientProduct<TBlock, TTaps>(ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, TileGeometry g, int splitSteps,
        out int ci0, out int q0, out int split) where TBlock : struct, IRegisterBlock where TTaps : struct, ITaps
    {
        var tiles = SharedTiles<TBlock>(g); // transposed weights x dY pixels
        var taps = TapTable.Allocate(RingSlots);
        int t = Group.IdxX;
        int kernel = default(TTaps).Kernel(s);
        int inArea = s.InSize * s.InSize, pixels = s.Batch * inArea, depth = s.OutChannels * kernel * kernel;
        SplitTile(s.InChannels, pixels, depth, splitSteps, g, out ci0, out q0, out split, out int kFirst, out int count);

        int loadColumn, loadRow, rowStep;
        if (default(TTaps).Quads) QuadPlace(out loadColumn, out loadRow, out rowStep);
        else LoadPlace(g, out loadColumn, out loadRow, out rowStep);
        int q = q0 + loadColumn;
        bool pixelValid = q < pixels;
        int n = q / inArea, qr = q - n * inArea, iy = qr / s.InSize, ix = qr - iy * s.InSize;
        int gradientBase = (n * s.OutStride + s.OutOffset) * s.OutSize * s.OutSize;
        int weightElements = TileDepth * g.Rows;

        if (t < 2 * TileDepth) GradientTaps<TTaps>(taps, s, t, kFirst + t); // k = (co, ky, kx); no prologue on dY
        Group.Barrier();

        int slot = 0;
        var w = default(Staged4);
        GatherTransposedWeights<TTaps>(s, weight, taps, slot, ci0, weightElements, ref w);
        var d = default(Staged8);
        if (default(TTaps).Quads) GatherOutputGradientQuads(dOut, pixelValid, gradientBase + qr, taps, slot, loadRow, ref d);
        else GatherOutputGradients<TTaps>(s, dOut, pixelValid, gradientBase, iy, ix, taps, slot, loadRow, rowStep, ref d);

        var block = default(TBlock);
        block.Begin();
        var (quadAt, quadSecond) = tiles.Quads(t, loadRow, loadColumn);
        for (int i = 0; i < count; i++)
        {
            int buffer = i & 1, at = buffer * tiles.ColumnBuffer + loadColumn;
            StoreWeights(tiles.Rows, buffer * tiles.RowBuffer, weightElements, tiles.RowStride, w);
            if (default(TTaps).Quads) StorePlainQuads(tiles.ColumnQuads, buffer * (tiles.ColumnBuffer / 4) + quadAt, quadSecond, d);
            else StorePlains(tiles.Columns, at, loadRow, rowStep, tiles.ColumnStride, d);
            Group.Barrier();

            if (t < TileDepth && i + 2 < count) GradientTaps<TTaps>(taps, s, RingSlot(i + 2) + t, kFirst + (i + 2) * TileDepth + t);
            if (i + 1 < count)
            {
                slot = RingSlot(i + 1);
                GatherTransposedWeights<TTaps>(s, weight, taps, slot, ci0, weightElements, ref w);
                if (default(TTaps).Quads) GatherOutputGradientQuads(dOut, pixelValid, gradientBase + qr, taps, slot, loadRow, ref d);
                else GatherOutputGradients<TTaps>(s, dOut, pixelValid, gradientBase, iy, ix, taps, slot, loadRow, rowStep, ref d);
            }
            block.Steps8(tiles.RowStep(buffer), tiles.ColumnStep(buffer), g);
        }
        return block;
    }

    /// <summary>This thread's elements t + 128 j of a step's [TileDepth][rows] tile of W^T.</summary>
    private static void GatherTransposedWeights<TTaps>(ConvShape s, ArrayView<float> weight, TapTable taps, int slot, int ci0, int elements, ref Staged4 w)
        where TTaps : struct, ITaps
    {
        w.W0 = GatherTransposedWeight<TTaps>(s, weight, taps, slot, ci0, 0, elements);
        w.W1 = GatherTransposedWeight<TTaps>(s, weight, taps, slot, ci0, 1, elements);
        w.W2 = GatherTransposedWeight<TTaps>(s, weight, taps, slot, ci0, 2, elements);
        w.W3 = GatherTransposedWeight<TTaps>(s, weight, taps, slot, ci0, 3, elements);
    }

    /// <summary>W[co, ci0 + m, ky, kx] for element e = m * TileDepth + kk, with (co, ky, kx) = taps slot + kk (0 outside).</summary>
    private static float GatherTransposedWeight<TTaps>(ConvShape s, ArrayView<float> weight, TapTable taps, int slot, int ci0, int j, int elements)
        where TTaps : struct, ITaps
    {
        if (!OwnsElement(j, elements)) return 0f;
        int t = Group.IdxX, kk = IndexMath.Remainder(t, TileDepth), ci = ci0 + t / TileDepth + j * (TileThreads / TileDepth), co = taps.Channel[slot + kk]; // as GatherWeight
        bool valid = ci < s.InChannels & co >= 0;
        int kernel = default(TTaps).Kernel(s);
        int at = kernel == 1 ? co * s.InChannels + ci // (folded away in the other kinds' kernels)
            : (co * s.InChannels + ci) * kernel * kernel + taps.Y[slot + kk] * kernel + taps.X[slot + kk];
        float value = weight[valid ? at : 0]; // without a branch, as the image gathers
        return valid ? value : 0f;
    }

    private static void GatherOutputGradients<TTaps>(ConvShape s, ArrayView<float> dOut, bool pixelValid, int gradientBase, int iy, int ix, TapTable taps, int slot, int loadRow, int rowStep, ref Staged8 d)
        where TTaps : struct, ITaps
    {
        taps = taps.From(slot); // constant offsets per row in banded tiles (TapTable.From)
        slot = 0;
        d.V0 = GatherOutputGradient<TTaps>(s, dOut, pixelValid, gradientBase, iy, ix, taps, slot, loadRow);
        d.V1 = GatherOutputGradient<TTaps>(s, dOut, pixelValid, gradientBase, iy, ix, taps, slot, loadRow + rowStep);
        d.V2 = GatherOutputGradient<TTaps>(s, dOut, pixelValid, gradientBase, iy, ix, taps, slot, loadRow + 2 * rowStep);
        d.V3 = GatherOutputGradient<TTaps>(s, dOut, pixelValid, gradientBase, iy, ix, taps, slot, loadRow + 3 * rowStep);
        d.V4 = GatherOutputGradient<TTaps>(s, dOut, pixelValid, gradientBase, iy, ix, taps, slot, loadRow + 4 * rowStep);
        d.V5 = GatherOutputGradient<TTaps>(s, dOut, pixelValid, gradientBase, iy, ix, taps, slot, loadRow + 5 * rowStep);
        d.V6 = GatherOutputGradient<TTaps>(s, dOut, pixelValid, gradientBase, iy, ix, taps, slot, loadRow + 6 * rowStep);
        d.V7 = GatherOutputGradient<TTaps>(s, dOut, pixelValid, gradientBase, iy, ix, taps, slot, loadRow + 7 * rowStep);
    }

    /// <summary>
    /// dY for tap slot + kk at input pixel (iy, ix). Stride 1 (every DenseNet conv but the ImageNet stem): the output
    /// pixel is (iy + padding - ky, ix + padding - kx), one add from the tap's offset and two unsigned bounds checks;
    /// other strides take <see cref="LoadOutputGradient"/>'s general path.
    /// </summary>
    private static float GatherOutputGradient<TTaps>(ConvShape s, ArrayView<float> dOut, bool pixelValid, int gradientBase, int iy, int ix, TapTable taps, int slot, int kk)
        where TTaps : struct, ITaps
    {
        if (kk >= TileDepth) return 0f; // folded away in banded tiles (LoadPlace)
        if (default(TTaps).Unpadded)
        {
            // 1 x 1, stride 1, no padding: dY at the same pixel of channel co (offset co * OutSize^2; -1 past the reduction).
            int offset = taps.Offset[slot + kk];
            bool valid = pixelValid & offset >= 0; // without a branch, as in GatherImage
            float value = dOut[valid ? gradientBase + iy * s.OutSize + ix + offset : 0];
            return valid ? value : 0f;
        }
        int ky = taps.Y[slot + kk], kx = taps.X[slot + kk];
        if (default(TTaps).StrideOne || s.Stride == 1)
        {
            int oy = iy + s.Padding - ky, ox = ix + s.Padding - kx;
            bool valid = pixelValid & (uint)oy < (uint)s.OutSize & (uint)ox < (uint)s.OutSize; // border, or past the reduction
            float value = dOut[valid ? gradientBase + (iy + s.Padding) * s.OutSize + ix + s.Padding + taps.Offset[slot + kk] : 0];
            return valid ? value : 0f;
        }
        if (!pixelValid) return 0f;
        int co = taps.Channel[slot + kk];
        return co < 0 ? 0f : LoadOutputGradient(s, dOut, gradientBase, iy, ix, co, ky, kx);
    }

    /// <summary>
    /// With quads (<see cref="QuadPlace"/>): dY of rows loadRow and loadRow + 4 at pixels at .. + 3 of each channel plane
    /// (1x1: offset co * OutSize^2), two 16-byte loads, 0 outside.
    /// </summary>
    private static void GatherOutputGradientQuads(ArrayView<float> dOut, bool pixelValid, int at, TapTable taps, int slot, int loadRow, ref Staged8 d)
    {
        var quads = ILGPU.Runtime.ArrayViewExtensions.AsAligned16(dOut).Cast<Float4>();
        taps = taps.From(slot);
        int inside = 0;
        var a = GatherQuad(quads, pixelValid, at, taps, loadRow, 1, ref inside);
        var b = GatherQuad(quads, pixelValid, at, taps, loadRow + QuadRowStep, 2, ref inside);
        bool first = (inside & 1) != 0, second = (inside & 2) != 0;
        d.V0 = first ? a.X : 0f; d.V1 = first ? a.Y : 0f; d.V2 = first ? a.Z : 0f; d.V3 = first ? a.W : 0f;
        d.V4 = second ? b.X : 0f; d.V5 = second ? b.Y : 0f; d.V6 = second ? b.Z : 0f; d.V7 = second ? b.W : 0f;
    }

    /// <summary>Stores a step's two staged dY quads at quads at and at + 128 of the tile.</summary>
    private static void StorePlainQuads(ArrayView<Float4> tile, int at, int second, Staged8 d)
    {
        tile[at] = new Float4(d.V0, d.V1, d.V2, d.V3);
        tile[at + second] = new Float4(d.V4, d.V5, d.V6, d.V7);
    }

    private static void StorePlain(ArrayView<float> tile, int at, int kk, int columns, float value)
    {
        if (kk < TileDepth) tile[at + kk * columns] = value;
    }

    /// <summary>Stores a step's staged output gradients at rows loadRow + j * rowStep of the tile.</summary>
    private static void StorePlains(ArrayView<float> tile, int at, int loadRow, int rowStep, int columns, Staged8 d)
    {
        tile = tile.SubView(at); // constant offsets per row in banded tiles
        at = 0;
        StorePlain(tile, at, loadRow, columns, d.V0);
        StorePlain(tile, at, loadRow + rowStep, columns, d.V1);
        StorePlain(tile, at, loadRow + 2 * rowStep, columns, d.V2);
        StorePlain(tile, at, loadRow + 3 * rowStep, columns, d.V3);
        StorePlain(tile, at, loadRow + 4 * rowStep, columns, d.V4);
        StorePlain(tile, at, loadRow + 5 * rowStep, columns, d.V5);
        StorePlain(tile, at, loadRow + 6 * rowStep, columns, d.V6);
        StorePlain(tile, at, loadRow + 7 * rowStep, columns, d.V7);
    }

    /// <summary>
    /// Backward-input with a plain input, version 3: launched as <see cref="BackwardInputTiled"/> times the splits. Split
    /// along the reduction where the grid is small, as <see cref="ForwardPipelined"/>: split i writes
    /// splitPartials[(i * InChannels + ci) * pixels + q] and <see cref="FinishInputSplits"/> adds them.
    /// </summary>
    public static void BackwardInputPipelined(ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> dInput, int tileRows,
        int splitSteps, ArrayView<float> splitPartials)
    {
        var g = new TileGeometry(tileRows);
        var block = InputGradientProduct<Block4x4, AnyTaps>(s, dOut, weight, g, splitSteps, out int ci0, out int q0, out int split);
        if (splitSteps >= Ceiling(s.OutChannels * s.Kernel * s.Kernel, TileDepth)) InputGradientEpilogue(s, block, g, ci0, q0, dInput);
        else StoreSplit(block, g, splitPartials, split, ci0, s.InChannels, q0, s.Batch * s.InSize * s.InSize);
    }

    /// <summary>
    /// Backward-input through BN-ReLU (DESIGN §4.5), version 3: unsplit, launched and finished as
    /// <see cref="BackwardInputThroughBatchNormTiled"/>; split, as <see cref="BackwardInputPipelined"/>, with the BN
    /// epilogue in <see cref="FinishInputSplits"/>.
    /// </summary>
    public static void BackwardInputThroughBatchNormPipelined(
        ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> input, Prologue prologue, BatchNormBackward bn, ArrayView<double> partials, int tileRows,
        int splitSteps, ArrayView<float> splitPartials)
    {
        var sums = SharedMemory.Allocate<double>(RowSums);
        var g = new TileGeometry(tileRows);
        var block = InputGradientProduct<Block4x4, AnyTaps>(s, dOut, weight, g, splitSteps, out int ci0, out int q0, out int split);
        if (splitSteps >= Ceiling(s.OutChannels * s.Kernel * s.Kernel, TileDepth)) ThroughBatchNormEpilogueTree<TreeRowSums>(s, block, g, ci0, q0, input, prologue, bn, sums, partials);
        else StoreSplit(block, g, splitPartials, split, ci0, s.InChannels, q0, s.Batch * s.InSize * s.InSize);
    }

    /// <summary>
    /// Adds a split backward-input's partial products in split order (float64). Plain (<paramref name="throughBatchNorm"/>
    /// = 0): writes dInput. Through BN-ReLU: the epilogue of <see cref="BackwardInputThroughBatchNormTiled"/> per element
    /// (dA where the consumer's ReLU let it through, G += gamma * dA) and each (channel, chunk)'s sums of dA and
    /// dA * xhat into channelSums[(chunk * InChannels + ci) * 2], for <see cref="FinishChannelsFromTiles"/> (tiles =
    /// chunks). Launch InChannels * chunks groups (channel fastest).
    /// </summary>
    public static void FinishInputSplits(ConvShape s, int splits, ArrayView<float> partials, ArrayView<float> dInput, ArrayView<float> input, Prologue prologue,
        BatchNormBackward bn, int throughBatchNorm, int chunks, ArrayView<double> channelSums)
    {
        var shared = SharedMemory.Allocate<double>(GroupReduce.MaxGroupSize);
        int ci = Grid.IdxX % s.InChannels, chunk = Grid.IdxX / s.InChannels;
        int inArea = s.InSize * s.InSize, pixels = s.Batch * inArea;
        double sumA = 0, sumAX = 0;
        float gamma = 0f, mean = 0f, invStd = 0f, scale = 0f, shift = 0f;
        if (throughBatchNorm != 0) { gamma = bn.Gamma[ci]; mean = bn.Mean[ci]; invStd = bn.InvStd[ci]; scale = prologue.Scale[ci]; shift = prologue.Shift[ci]; }
        for (int q = chunk * Group.DimX + Group.IdxX; q < pixels; q += chunks * Group.DimX)
        {
            double v = 0;
            for (int split = 0; split < splits; split++) v += partials[(split * s.InChannels + ci) * pixels + q];
            float d = (float)v;
            if (throughBatchNorm != 0)
            {
                AccumulateBatchNorm(s, input, bn, ci, q, pixels, inArea, d, gamma, mean, invStd, scale, shift, ref sumA, ref sumAX);
                continue;
            }
            int n = q / inArea;
            dInput[(n * s.InStride + ci) * inArea + q - n * inArea] = d;
        }
        if (throughBatchNorm == 0) return; // uniform over the group
        double totalA = GroupReduce.Sum(shared, sumA), totalAX = GroupReduce.Sum(shared, sumAX);
        if (Group.IdxX == 0)
        {
            channelSums[(chunk * s.InChannels + ci) * 2] = totalA;
            channelSums[(chunk * s.InChannels + ci) * 2 + 1] = totalAX;
        }
    }

    /// <summary>
    /// Backward-weights, version 3: <see cref="BackwardWeightsTiled"/> software-pipelined, with the tile's fixed columns'
    /// BN scale and shift decoded once. Same launch and partials; <see cref="SumSplits"/> adds the splits.
    /// </summary>
    public static void BackwardWeightsPipelined(ConvShape s, ArrayView<float> input, Prologue prologue, ArrayView<float> dOut, ArrayView<float> partials, int chunk, int tileRows)
    {
        var g = new TileGeometry(tileRows);
        var block = WeightsProduct<Block4x4, AnyTaps>(s, input, prologue, dOut, chunk, g, out int co0, out int k0, out int split);
        WeightsEpilogue(s, block, g, split, co0, k0, partials);
    }

    /// <summary>
    /// The weight gradient's product for one tile (g.Rows output channels x g.Columns weight columns) over one split's
    /// pixel chunk, software-pipelined: the loop of versions 3 and 4, generic over the register block.
    /// </summary>
    private static TBlock WeightsProduct<TBlock, TTaps>(ConvShape s, ArrayView<float> input, Prologue prologue, ArrayView<float> dOut, int chunk, TileGeometry g,
        out int co0, out int k0, out int split) where TBlock : struct, IRegisterBlock where TTaps : struct, ITaps
    {
        if (default(TTaps).Quads) return WeightsProductQuads<TBlock>(s, input, prologue, dOut, chunk, g, out co0, out k0, out split);
        var tiles = SharedTiles<TBlock>(g); // dY x input columns
        var taps = TapTable.Allocate(MaxTileColumns);
        int t = Group.IdxX;
        int kernel = default(TTaps).Kernel(s);
        WeightTile(s, s.InChannels * kernel * kernel, chunk, g, out co0, out k0, out split, out int begin, out int end, out int steps);

        // As in version 2: each thread loads pixel pp of a step, rows lane + 16 j of the gradient tile and columns
        // lane + 16 j of the input tile.
        int pp = IndexMath.Remainder(t, TileDepth), lane = t / TileDepth;
        for (int c = t; c < g.Columns; c += TileThreads) ImageTaps<TTaps>(taps, s, c, k0 + c, prologue);
        Group.Barrier();

        var d = default(Staged4);
        var x = default(Staged8);
        var pixel = PixelCursor.At(s, begin + pp);
        GatherWeightsStep<TTaps>(s, input, dOut, taps, g, pixel, end, co0, lane, ref d, ref x);

        var block = default(TBlock);
        block.Begin();
        for (int step = 0; step < steps; step++)
        {
            int buffer = step & 1, rowAt = buffer * tiles.RowBuffer + pp * tiles.RowStride + lane, at = buffer * tiles.ColumnBuffer + pp * tiles.ColumnStride + lane;
            if (LaneFits(0, g.Rows)) tiles.Rows[rowAt] = d.W0;
            if (LaneFits(1, g.Rows)) tiles.Rows[rowAt + 16] = d.W1;
            if (LaneFits(2, g.Rows)) tiles.Rows[rowAt + 32] = d.W2;
            if (LaneFits(3, g.Rows)) tiles.Rows[rowAt + 48] = d.W3;
            StoreColumnTaps(tiles.Columns, at, lane, g.Columns, taps, x, prologue.Enabled);
            Group.Barrier();
            if (step + 1 < steps)
            {
                pixel.Advance(s);
                GatherWeightsStep<TTaps>(s, input, dOut, taps, g, pixel, end, co0, lane, ref d, ref x);
            }
            block.Steps8(tiles.RowStep(buffer), tiles.ColumnStep(buffer), g);
        }
        return block;
    }

    /// <summary>
    /// This group's weight-gradient tile (g.Rows output channels from co0 x g.Columns of the depth weight columns from k0;
    /// tiles column-fastest, then splits) and its split's pixels [begin, end) in steps of 8.
    /// </summary>
    private static void WeightTile(ConvShape s, int depth, int chunk, TileGeometry g, out int co0, out int k0, out int split, out int begin, out int end, out int steps)
    {
        int pixels = s.Batch * s.OutSize * s.OutSize;
        int columnTiles = Ceiling(depth, g.Columns), tiles = Ceiling(s.OutChannels, g.Rows) * columnTiles;
        split = Grid.IdxX / tiles;
        int tileIndex = Grid.IdxX - split * tiles;
        k0 = tileIndex % columnTiles * g.Columns;
        co0 = tileIndex / columnTiles * g.Rows;
        begin = split * chunk;
        end = begin + chunk < pixels ? begin + chunk : pixels;
        steps = Ceiling(end - begin, TileDepth);
    }

    /// <summary>
    /// <see cref="WeightsProduct{TBlock, TTaps}"/> with quads (<see cref="TapKind.OneByOneQuads"/>, banded tiles): thread t
    /// gathers pixels 4 (t % 2) .. + 3 of each step as 16-byte quads, of dY row t / 2 and of image columns t / 2 and
    /// t / 2 + 64: 3 loads, not 12, two threads covering a step's 8 pixels (32 contiguous bytes) of a channel plane. The
    /// tiles are [pixel][row] and [pixel][column], so each quad is stored as 4 scalars; a warp's stores then hit 16
    /// consecutive banks twice (2-way conflicts), where the scalar kernel's (pixel t % 8, rows t / 8 + 16 j) hit 4 banks
    /// 8 times. The tiles hold the same values at the same places as the scalar kernel's: same sums, same order.
    /// Chunks are whole steps of 8 pixels and the area a multiple of 4, so no quad straddles a split, an image or the end.
    /// </summary>
    private static TBlock WeightsProductQuads<TBlock>(ConvShape s, ArrayView<float> input, Prologue prologue, ArrayView<float> dOut, int chunk, TileGeometry g,
        out int co0, out int k0, out int split) where TBlock : struct, IRegisterBlock
    {
        var tiles = SharedTiles<TBlock>(g); // dY x input columns
        int rowStride = tiles.RowStride, columnStride = tiles.ColumnStride;
        var taps = TapTable.Allocate(MaxTileColumns);
        int t = Group.IdxX;
        int area = s.OutSize * s.OutSize;
        WeightTile(s, s.InChannels, chunk, g, out co0, out k0, out split, out int begin, out int end, out int steps);
        for (int c = t; c < g.Columns; c += TileThreads) ImageTaps<Taps1x1>(taps, s, c, k0 + c, prologue);
        Group.Barrier();

        int quad = t % 2, row = t / 2, first = 4 * quad; // this thread's pixels first .. first + 3 of a step
        bool rowFits = row < g.Rows & co0 + row < s.OutChannels;
        var gradients = ILGPU.Runtime.ArrayViewExtensions.AsAligned16(dOut).Cast<Float4>();
        var images = ILGPU.Runtime.ArrayViewExtensions.AsAligned16(input).Cast<Float4>();
        int rowPlane = (s.OutOffset + co0 + row) * area, imageStride = s.InStride * area, gradientStride = s.OutStride * area;
        var columns = taps.From(row); // columns row and row + 64 at constant offsets
        int p = begin + first, n = p / area, pr = p - n * area;
        GatherWeightQuads(gradients, images, columns, p < end, rowFits, n * gradientStride + rowPlane + pr, n * imageStride + pr, out var d, out var x0, out var x1, out int inside);

        var block = default(TBlock);
        block.Begin();
        for (int step = 0; step < steps; step++)
        {
            int buffer = step & 1;
            var gradientTile = tiles.Rows.SubView(buffer * tiles.RowBuffer + first * rowStride + row);
            var inputTile = tiles.Columns.SubView(buffer * tiles.ColumnBuffer + first * columnStride + row);
            if (row < g.Rows)
            {
                gradientTile[0] = d.X; gradientTile[rowStride] = d.Y; gradientTile[2 * rowStride] = d.Z; gradientTile[3 * rowStride] = d.W;
            }
            StoreColumnQuad(inputTile, columnStride, columns, 0, x0, (inside & 1) != 0, prologue.Enabled);
            StoreColumnQuad(inputTile.SubView(BandColumns / 2), columnStride, columns, BandColumns / 2, x1, (inside & 2) != 0, prologue.Enabled);
            Group.Barrier();
            if (step + 1 < steps)
            {
                p += TileDepth;
                pr += TileDepth;
                while (pr >= area) { pr -= area; n++; } // more than once on images smaller than a step
                GatherWeightQuads(gradients, images, columns, p < end, rowFits, n * gradientStride + rowPlane + pr, n * imageStride + pr, out d, out x0, out x1, out inside);
            }
            block.Steps8(tiles.RowStep(buffer), tiles.ColumnStep(buffer), g);
        }
        return block;
    }

    /// <summary>
    /// One step's quads of the quad weight gradient: dY at gradientAt (0 unless valid and the row fits), the image at
    /// imageAt + the offsets of columns 0 and 64 (Inside bits 1 and 2: valid and the column within the reduction).
    /// Outside, quad 0 of the view (always there) is read and dropped.
    /// </summary>
    private static void GatherWeightQuads(ArrayView<Float4> gradients, ArrayView<Float4> images, TapTable columns, bool valid, bool rowFits, int gradientAt, int imageAt,
        out Float4 d, out Float4 x0, out Float4 x1, out int inside)
    {
        bool rowValid = valid & rowFits;
        var g = gradients[rowValid ? gradientAt >> 2 : 0];
        d = new Float4(rowValid ? g.X : 0f, rowValid ? g.Y : 0f, rowValid ? g.Z : 0f, rowValid ? g.W : 0f);
        int offset0 = columns.Offset[0], offset1 = columns.Offset[BandColumns / 2];
        bool in0 = valid & offset0 >= 0, in1 = valid & offset1 >= 0;
        x0 = images[in0 ? (imageAt + offset0) >> 2 : 0];
        x1 = images[in1 ? (imageAt + offset1) >> 2 : 0];
        inside = (in0 ? 1 : 0) | (in1 ? 2 : 0);
    }

    /// <summary>Stores a column's quad of 4 pixels (tile rows 0 .. 3 of <paramref name="tile"/>, 128 apart), activated with the column's tap.</summary>
    private static void StoreColumnQuad(ArrayView<float> tile, int stride, TapTable columns, int column, Float4 x, bool inside, int prologueEnabled)
    {
        var a = columns.ActivateQuad(column, x.X, x.Y, x.Z, x.W, inside, prologueEnabled);
        tile[0] = a.X; tile[stride] = a.Y; tile[2 * stride] = a.Z; tile[3 * stride] = a.W;
    }

    /// <summary>
    /// A thread's output pixel in the weight gradient's walk over a split's pixels: index, image, row and column,
    /// advanced one step (8 pixels) at a time by adds and wraps. Recomputed from the index, it cost two divisions by
    /// runtime divisors per step (about 40 instructions of the loop's 1,100).
    /// </summary>
    private struct PixelCursor
    {
        public int P, N, Y, X;

        public static PixelCursor At(ConvShape s, int p)
        {
            int area = s.OutSize * s.OutSize, n = p / area, r = p - n * area, y = r / s.OutSize;
            return new PixelCursor { P = p, N = n, Y = y, X = r - y * s.OutSize };
        }

        public void Advance(ConvShape s)
        {
            P += TileDepth;
            X += TileDepth;
            while (X >= s.OutSize) { X -= s.OutSize; Y++; } // more than once on images narrower than a step
            while (Y >= s.OutSize) { Y -= s.OutSize; N++; }
        }
    }

    /// <summary>One step's loads of a weight-gradient tile for this thread's pixel: dY rows lane + 16 j (j &lt; 4) and X columns lane + 16 j (j &lt; 8).</summary>
    private static void GatherWeightsStep<TTaps>(ConvShape s, ArrayView<float> input, ArrayView<float> dOut, TapTable taps, TileGeometry g, PixelCursor pixel, int end, int co0, int lane,
        ref Staged4 d, ref Staged8 x) where TTaps : struct, ITaps
    {
        int outArea = s.OutSize * s.OutSize;
        bool valid = pixel.P < end;
        int n = pixel.N, oy = pixel.Y, ox = pixel.X, pr = oy * s.OutSize + ox;
        int gradientAt = (n * s.OutStride + s.OutOffset) * outArea + pr;
        int co = co0 + lane;
        d.W0 = GatherGradientRow(dOut, valid & LaneFits(0, g.Rows) & co < s.OutChannels, gradientAt + co * outArea);
        d.W1 = GatherGradientRow(dOut, valid & LaneFits(1, g.Rows) & co + 16 < s.OutChannels, gradientAt + (co + 16) * outArea);
        d.W2 = GatherGradientRow(dOut, valid & LaneFits(2, g.Rows) & co + 32 < s.OutChannels, gradientAt + (co + 32) * outArea);
        d.W3 = GatherGradientRow(dOut, valid & LaneFits(3, g.Rows) & co + 48 < s.OutChannels, gradientAt + (co + 48) * outArea);
        int y0 = oy * s.Stride - s.Padding, x0 = ox * s.Stride - s.Padding;
        int windowBase = n * s.InStride * s.InSize * s.InSize + y0 * s.InSize + x0; // the pixel's window origin
        x.Inside = 0;
        var columns = taps.From(lane); // column lane + 16 j at constant offsets (TapTable.From)
        x.V0 = GatherImage<TTaps>(s, input, valid && LaneFits(0, g.Columns), windowBase, y0, x0, columns, 0, 0, 1, ref x.Inside);
        x.V1 = GatherImage<TTaps>(s, input, valid && LaneFits(1, g.Columns), windowBase, y0, x0, columns, 16, 0, 2, ref x.Inside);
        x.V2 = GatherImage<TTaps>(s, input, valid && LaneFits(2, g.Columns), windowBase, y0, x0, columns, 32, 0, 4, ref x.Inside);
        x.V3 = GatherImage<TTaps>(s, input, valid && LaneFits(3, g.Columns), windowBase, y0, x0, columns, 48, 0, 8, ref x.Inside);
        x.V4 = GatherImage<TTaps>(s, input, valid && LaneFits(4, g.Columns), windowBase, y0, x0, columns, 64, 0, 16, ref x.Inside);
        x.V5 = GatherImage<TTaps>(s, input, valid && LaneFits(5, g.Columns), windowBase, y0, x0, columns, 80, 0, 32, ref x.Inside);
        x.V6 = GatherImage<TTaps>(s, input, valid && LaneFits(6, g.Columns), windowBase, y0, x0, columns, 96, 0, 64, ref x.Inside);
        x.V7 = GatherImage<TTaps>(s, input, valid && LaneFits(7, g.Columns), windowBase, y0, x0, columns, 112, 0, 128, ref x.Inside);
    }

    /// <summary>dY at <paramref name="at"/>, 0 where not valid: without a branch (element 0 is read and dropped), as the image gathers.</summary>
    private static float GatherGradientRow(ArrayView<float> dOut, bool valid, int at)
    {
        float value = dOut[valid ? at : 0];
        return valid ? value : 0f;
    }

    /// <summary>Stores a weight-gradient step's staged image values, columns lane + 16 j, each activated with its column's tap.</summary>
    private static void StoreColumnTaps(ArrayView<float> tile, int at, int lane, int columns, TapTable taps, Staged8 x, int prologueEnabled)
    {
        tile = tile.SubView(at); // constant offsets per column (TapTable.From)
        at = 0;
        StoreColumnTap(tile, at, lane, 0, columns, taps, x.V0, x.Inside, 1, prologueEnabled);
        StoreColumnTap(tile, at, lane, 1, columns, taps, x.V1, x.Inside, 2, prologueEnabled);
        StoreColumnTap(tile, at, lane, 2, columns, taps, x.V2, x.Inside, 4, prologueEnabled);
        StoreColumnTap(tile, at, lane, 3, columns, taps, x.V3, x.Inside, 8, prologueEnabled);
        StoreColumnTap(tile, at, lane, 4, columns, taps, x.V4, x.Inside, 16, prologueEnabled);
        StoreColumnTap(tile, at, lane, 5, columns, taps, x.V5, x.Inside, 32, prologueEnabled);
        StoreColumnTap(tile, at, lane, 6, columns, taps, x.V6, x.Inside, 64, prologueEnabled);
        StoreColumnTap(tile, at, lane, 7, columns, taps, x.V7, x.Inside, 128, prologueEnabled);
    }

    /// <summary>
    /// Whether a lane's row or column lane + 16 j (lane = t / 8, below 16) is below extent, a tile's rows or columns: every tile's are multiples
    /// of 16 (16 or 32 rows and 128 or 64 columns in version 3, 16 m x 128 in version 4), where that is 16 j &lt; extent:
    /// a constant in banded tiles (ptxas kept a branch per element for lane + 16 j &lt; 128, 7 of them in the loop).
    /// </summary>
    private static bool LaneFits(int j, int extent) => 16 * j < extent;

    private static void StoreColumnTap(ArrayView<float> tile, int at, int lane, int j, int columns, TapTable taps, float value, int inside, int bit, int prologueEnabled)
    {
        if (LaneFits(j, columns)) tile[at + 16 * j] = taps.From(lane).Activate(16 * j, value, (inside & bit) != 0, prologueEnabled);
    }

    /// <summary>Weights per group of <see cref="SumSplitsByLanes"/>; each has <see cref="SplitLanes"/> threads.</summary>
    public const int SplitColumns = 32, SplitLanes = TileThreads / SplitColumns;

    /// <summary>
    /// dW[w] = the sum over splits of partials[split * weights + w], version 3: version 2's <see cref="SumSplits"/> has
    /// one thread walk all splits of a weight, one dependent load after another, which took 4.8 ms of a BC-100 step on
    /// an H100 once version 3 split four times more. Here a group of <see cref="TileThreads"/> threads takes 32 weights,
    /// 4 lanes each: lane l sums splits l, l + 4, ... (four loads issued before their adds), in float64, and the lanes
    /// are added in a fixed order (deterministic). Launch ceil(weights / 32) groups of <see cref="TileThreads"/> threads.
    /// </summary>
    public static void SumSplitsByLanes(int weights, int splits, ArrayView<float> partials, ArrayView<float> dWeight)
    {
        var lanes = SharedMemory.Allocate<double>(TileThreads);
        int t = Group.IdxX, column = t % SplitColumns, lane = t / SplitColumns;
        int w = Grid.IdxX * SplitColumns + column;
        double sum = 0;
        if (w < weights)
        {
            int split = lane;
            for (; split + 3 * SplitLanes < splits; split += 4 * SplitLanes)
            {
                float a = partials[split * weights + w], b = partials[(split + SplitLanes) * weights + w];
                float c = partials[(split + 2 * SplitLanes) * weights + w], d = partials[(split + 3 * SplitLanes) * weights + w];
                sum += a;
                sum += b;
                sum += c;
                sum += d;
            }
            for (; split < splits; split += SplitLanes) sum += partials[split * weights + w];
        }
        lanes[t] = sum;
        Group.Barrier();
        if (lane == 0 && w < weights)
        {
            double total = 0;
            for (int l = 0; l < SplitLanes; l++) total += lanes[l * SplitColumns + column];
            dWeight[w] = (float)total;
        }
    }
}
