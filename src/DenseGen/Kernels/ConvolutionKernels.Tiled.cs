using ILGPU;

namespace DenseGen.Kernels;

/// <summary>
/// BN-ReLU-Conv, version 2: implicit GEMM through shared memory with 4x4 register blocking.
/// What changes from version 1 (<c>ConvolutionKernels.cs</c>):
/// - Each conv is a matrix product whose operands are gathered while loading, never materialised (no im2col buffer):
///   forward out[co, p] = W[co, K] * X[K, p] with K = (ci, ky, kx) and p = (n, oy, ox); backward-input
///   dX[ci, q] = W^T[ci, K'] * dY[K', q] with K' = (co, ky, kx); backward-weights dW[co, K] = dY[co, p] * X[K, p]^T.
/// - A group of 128 threads computes a 32 x 64 tile of the product (or 16 x 128 where the rows are few: a growth conv
///   writes k = 12 channels, which a 32-row tile would pad to 32) in steps of 8 along the reduction: the two operand
///   tiles go to shared memory once per step (the BN-ReLU prologue is applied once per loaded element, not once per
///   use), and each thread keeps a 4 x 4 block of the result in registers (16 scalar locals, not an array, so ILGPU
///   keeps them in registers). A thread's rows and columns are 4 consecutive ones, so each step reads its four
///   weights and its four inputs as two 16-byte shared loads (ld.shared.v4.f32) instead of eight 4-byte ones: the
///   shared-memory instructions per multiply-add, not the multiply-adds, bound a 4 x 4 block. Neighbouring threads
///   read neighbouring 16-byte words (no bank conflicts) and write neighbouring output pixels.
/// - Backward-weights reduces over N*H*W pixels: the pixels are split into chunks (split-K), each group writes a partial
///   product for its chunk, and <see cref="SumSplits"/> adds the chunks in a fixed order in float64 (deterministic).
/// - Backward-input through BN computes the BN-backward terms (G += gamma * dA, sum dA, sum dA * xhat) in the epilogue,
///   from the accumulators; the per-channel sums of each pixel tile go to a partial buffer that
///   <see cref="FinishChannelsFromTiles"/> reduces in a fixed order (one group per channel, more where it also applies
///   the producer's side).
/// - The gathers decode each reduction index k into (channel, ky, kx) once per group and step, into a small table in
///   shared memory, not once per loaded element: no integer division on the per-element path.
/// Correct on every backend (no warp shuffles, no atomics). Needs groups of <see cref="TileThreads"/> threads
/// (ComputeDevice opens ILGPU's CPU accelerator with groups that large). Checked against the float64 references in
/// the tests, like version 1.
/// </summary>
internal static partial class ConvolutionKernels
{
    // A tile has TileArea = rows x columns elements: 32 x 64 (wide) or 16 x 128 (narrow). Rows are output channels
    // (forward, backward-weights) or input channels (backward-input); columns are pixels (forward, backward-input) or
    // weight columns K (backward-weights).
    public const int TileArea = 2048;
    public const int MaxTileRows = 32, MaxTileColumns = 128;
    /// <summary>Reduction elements per shared-memory step.</summary>
    public const int TileDepth = 8;
    public const int TileThreads = 128;

    /// <summary>16-row tiles where they waste fewer rows than 32-row ones (12 or 48 channels), else 32.</summary>
    public static int TileRowsFor(int rows) => Ceiling(rows, 16) * 16 < Ceiling(rows, 32) * 32 ? 16 : 32;

    /// <summary>Groups for a rows x columns product: column tiles vary fastest (neighbouring groups share weights).</summary>
    public static int TileGroups(int rows, int columns, int tileRows) => Ceiling(rows, tileRows) * Ceiling(columns, TileArea / tileRows);

    public static int Ceiling(int a, int b) => (a + b - 1) / b;

    /// <summary>Four floats read from shared memory as one 16-byte load (ld.shared.v4.f32 in PTX).</summary>
    private readonly struct Float4(float x, float y, float z, float w)
    {
        public readonly float X = x, Y = y, Z = z, W = w; // tiles are written through their scalar view, or whole quads (TapKind.OneByOneQuads)
    }

    /// <summary>A tile in shared memory, written by scalars and read by the product 4 floats at a time.</summary>
    private static (ArrayView<float> Scalars, ArrayView<Float4> Quads) SharedTile(int floats)
    {
        var quads = SharedMemory.Allocate<Float4>(floats / 4);
        return (quads.Cast<float>(), quads);
    }

    /// <summary>
    /// A thread's register block of the product: the 8 reduction steps of one shared tile depth, read from the
    /// [TileDepth][rows] and [TileDepth][columns] tiles as 16-byte quads. Kernels generic over it (version 3's loops)
    /// are compiled once per block shape; ILGPU resolves the calls statically.
    /// </summary>
    private interface IRegisterBlock
    {
        void Steps8(ArrayView<Float4> left, ArrayView<Float4> right, TileGeometry g);

        /// <summary>Called once by every thread before the reduction: a block that needs shared memory of its own allocates it here.</summary>
        void Begin();

        /// <summary>
        /// Floats added to each row of the forward's shared tiles (<c>ForwardProduct</c>): 0 for the FFMA blocks, which read
        /// [8][rows] and [8][columns] as quads; version 5's fragments read single floats 4 rows apart, which padding
        /// moves to different banks.
        /// </summary>
        int TilePad { get; }
    }

    /// <summary>A thread's 4 x 4 block of the product, in registers.</summary>
    private struct Block4x4 : IRegisterBlock, IBandStep
    {
        public float A00, A01, A02, A03, A10, A11, A12, A13, A20, A21, A22, A23, A30, A31, A32, A33;

        /// <summary>Adds one step of the product: rows left[4 leftQuad .. + 3], columns right[4 rightQuad .. + 3].</summary>
        public void Step(ArrayView<Float4> left, int leftQuad, ArrayView<Float4> right, int rightQuad) => Multiply(left[leftQuad], right[rightQuad]);

        /// <summary>Adds the outer product of four rows' values a and four columns' values b.</summary>
        public void Multiply(Float4 a, Float4 b)
        {
            float a0 = a.X, a1 = a.Y, a2 = a.Z, a3 = a.W, b0 = b.X, b1 = b.Y, b2 = b.Z, b3 = b.W;
            A00 += a0 * b0; A01 += a0 * b1; A02 += a0 * b2; A03 += a0 * b3;
            A10 += a1 * b0; A11 += a1 * b1; A12 += a1 * b2; A13 += a1 * b3;
            A20 += a2 * b0; A21 += a2 * b1; A22 += a2 * b2; A23 += a2 * b3;
            A30 += a3 * b0; A31 += a3 * b1; A32 += a3 * b2; A33 += a3 * b3;
        }

        /// <summary>
        /// The 8 steps of one tile depth, unrolled by hand (ILGPU 1.5.3 does not unroll loops): 16 shared loads of
        /// 16 bytes and 128 multiply-adds, with no loop counter or index arithmetic between them.
        /// </summary>
        public void Steps8(ArrayView<Float4> left, ArrayView<Float4> right, TileGeometry g) => EightSteps(ref this, left, right, g);

        public readonly void Begin() { }

        public readonly int TilePad => 0;

        /// <summary>Column j of the block (rows 0..3).</summary>
        public readonly void Column(int j, out float r0, out float r1, out float r2, out float r3)
        {
            if (j == 0) { r0 = A00; r1 = A10; r2 = A20; r3 = A30; }
            else if (j == 1) { r0 = A01; r1 = A11; r2 = A21; r3 = A31; }
            else if (j == 2) { r0 = A02; r1 = A12; r2 = A22; r3 = A32; }
            else { r0 = A03; r1 = A13; r2 = A23; r3 = A33; }
        }

        /// <summary>Row i of the block (columns 0..3).</summary>
        public readonly void Row(int i, out float c0, out float c1, out float c2, out float c3)
        {
            if (i == 0) { c0 = A00; c1 = A01; c2 = A02; c3 = A03; }
            else if (i == 1) { c0 = A10; c1 = A11; c2 = A12; c3 = A13; }
            else if (i == 2) { c0 = A20; c1 = A21; c2 = A22; c3 = A23; }
            else { c0 = A30; c1 = A31; c2 = A32; c3 = A33; }
        }
    }

    /// <summary>
    /// A tile's geometry for a group: 32 x 64 or 16 x 128. This thread's 4 x 4 block covers rows Row .. Row + 3 and
    /// columns Column .. Column + 3; the ThreadsPerRow threads of one block row are consecutive.
    /// </summary>
    private readonly struct TileGeometry
    {
        public readonly int Rows, Columns, ThreadsPerRow, Row, Column, Tx, Ty;

        public TileGeometry(int tileRows) : this(tileRows, TileArea / tileRows, 4) { }

        /// <summary>
        /// A rows x columns tile of blocks blockEdge wide. Version 4's banded tiles (16 m rows) use the thread grid of one
        /// 16-row band: Row is the place of the thread's block in band 0; band i's is 16 i rows below.
        /// </summary>
        public TileGeometry(int rows, int columns, int blockEdge)
        {
            Rows = rows;
            Columns = columns;
            ThreadsPerRow = columns / blockEdge;
            // %, not a mask or x - x / 32 * 32: with either of those PoCL ran version 4's 4-band forward 1.6-1.9x slower
            // (its vectoriser); ptxas pays a division sequence for it, recomputed in some loops (about 1 % of their code).
            Tx = Group.IdxX % ThreadsPerRow;
            Ty = Group.IdxX / ThreadsPerRow;
            Row = blockEdge * Ty;
            Column = blockEdge * Tx;
        }
    }

    /// <summary>
    /// Decoded reduction indices ("taps"): k = (channel, ky, kx) with channel = k / kernel^2, kept in shared memory so
    /// that the gathers do no integer division per element (a division costs tens of instructions on a GPU, more on a
    /// CPU). Channel is -1 past the end of the reduction.
    /// </summary>
    private struct Taps
    {
        public ArrayView<int> Channel, Y, X;

        public static Taps Allocate(int count) => new()
        {
            Channel = SharedMemory.Allocate<int>(count), Y = SharedMemory.Allocate<int>(count), X = SharedMemory.Allocate<int>(count),
        };

        /// <summary>
        /// A table of two halves: step 0's taps are decoded into the first before the loop; while a step uses half
        /// (step % 2), <see cref="DecodeNext"/> fills the other for the next step (visible after the step's barrier).
        /// </summary>
        public static Taps ForSteps(int depth, int kernel)
        {
            var taps = Allocate(2 * TileDepth);
            if (Group.IdxX < TileDepth) taps.Decode(Group.IdxX, Group.IdxX, depth, kernel);
            Group.Barrier();
            return taps;
        }

        /// <summary>The first slot of step k0's half of a <see cref="ForSteps"/> table.</summary>
        public static int Half(int k0) => IndexMath.Remainder(k0 / TileDepth, 2) * TileDepth;

        /// <summary>Decodes the step after k0 into the other half (threads 0..7, one tap each).</summary>
        public readonly void DecodeNext(int k0, int depth, int kernel)
        {
            if (Group.IdxX < TileDepth) Decode(TileDepth - Half(k0) + Group.IdxX, k0 + TileDepth + Group.IdxX, depth, kernel);
        }

        public readonly void Decode(int slot, int k, int depth, int kernel)
        {
            int kk = kernel * kernel, c = k / kk, r = k - c * kk, y = r / kernel;
            Channel[slot] = k < depth ? c : -1;
            Y[slot] = y;
            X[slot] = r - y * kernel;
        }
    }

    /// <summary>Writes a block column's four rows (channels c .. c + 3, those below <paramref name="channels"/>) at plane stride.</summary>
    private static void StoreColumn(ArrayView<float> target, int at, int c, int channels, int plane, float r0, float r1, float r2, float r3)
    {
        if (c < channels) target[at + c * plane] = r0;
        if (c + 1 < channels) target[at + (c + 1) * plane] = r1;
        if (c + 2 < channels) target[at + (c + 2) * plane] = r2;
        if (c + 3 < channels) target[at + (c + 3) * plane] = r3;
    }

    /// <summary>
    /// Sums a pair of per-thread values over the threads of one block row (same Ty, consecutive threads, hence the
    /// same channel) in a fixed order, through shared memory; the row's first thread writes the pair to
    /// partials[at], partials[at + 1] when <paramref name="write"/>. Every thread of the group must call it.
    /// </summary>
    private static void SumRow(ArrayView<double> sums, TileGeometry g, double a, double b, bool write, ArrayView<double> partials, int at)
    {
        int t = Group.IdxX;
        sums[2 * t] = a;
        sums[2 * t + 1] = b;
        Group.Barrier();
        if (g.Tx == 0 && write)
        {
            double totalA = 0, totalB = 0;
            for (int u = 0; u < g.ThreadsPerRow; u++) { totalA += sums[2 * (t + u)]; totalB += sums[2 * (t + u) + 1]; }
            partials[at] = totalA;
            partials[at + 1] = totalB;
        }
        Group.Barrier();
    }

    /// <summary>relu(bn(x)) of the prologue, or x, at tap <paramref name="slot"/>; zero outside the image (padding lies
    /// outside BN-ReLU, as in PyTorch) and past the reduction.</summary>
    private static float LoadInput(ConvShape s, ArrayView<float> input, Prologue prologue, int imageBase, int y0, int x0, Taps taps, int slot)
    {
        int ci = taps.Channel[slot];
        int iy = y0 + taps.Y[slot], ix = x0 + taps.X[slot];
        if (ci < 0 || iy < 0 || iy >= s.InSize || ix < 0 || ix >= s.InSize) return 0f;
        float x = input[imageBase + (ci * s.InSize + iy) * s.InSize + ix];
        if (prologue.Enabled != 0) { x = x * prologue.Scale[ci] + prologue.Shift[ci]; x = x > 0f ? x : 0f; }
        return x;
    }

    /// <summary>
    /// Forward, version 2: out = W * relu(bn(X)) as a tiled implicit GEMM. Launch with <see cref="TileGroups"/>(OutChannels,
    /// Batch * OutSize^2, tileRows) groups of <see cref="TileThreads"/> threads; tileRows from <see cref="TileRowsFor"/>.
    /// With <paramref name="withStatistics"/> = 1 (training), the epilogue also sums each output channel and its
    /// squares over the tile's pixels, in float64, into <paramref name="statistics"/>[(column tile * OutChannels + co) * 2]:
    /// <see cref="FinishStatisticsFromTiles"/> turns them into the batch statistics, so no separate pass reads the
    /// output again (DESIGN §4.2: statistics in the epilogue of the conv that writes the channel).
    /// </summary>
    public static void ForwardTiled(ConvShape s, ArrayView<float> input, ArrayView<float> weight, Prologue prologue, ArrayView<float> output, int tileRows,
        ArrayView<double> statistics, int withStatistics)
    {
        var sums = SharedMemory.Allocate<double>(2 * TileThreads);
        var (weightTile, weightQuads) = SharedTile(TileDepth * MaxTileRows);
        var (inputTile, inputQuads) = SharedTile(TileDepth * MaxTileColumns);
        var g = new TileGeometry(tileRows);
        int t = Group.IdxX;
        int outArea = s.OutSize * s.OutSize, pixels = s.Batch * outArea, depth = s.InChannels * s.Kernel * s.Kernel;
        int columnTiles = Ceiling(pixels, g.Columns);
        int pixel0 = Grid.IdxX % columnTiles * g.Columns, co0 = Grid.IdxX / columnTiles * g.Rows;

        // The pixel this thread loads for the input tile (fixed for the whole reduction): decoded once.
        int loadColumn = t % g.Columns, loadRow = t / g.Columns;
        int p = pixel0 + loadColumn;
        bool pixelValid = p < pixels;
        int n = p / outArea, pr = p - n * outArea, oy = pr / s.OutSize, ox = pr - oy * s.OutSize;
        int imageBase = n * s.InStride * s.InSize * s.InSize;
        int y0 = oy * s.Stride - s.Padding, x0 = ox * s.Stride - s.Padding;

        var taps = Taps.ForSteps(depth, s.Kernel);

        var block = default(Block4x4);
        for (int k0 = 0; k0 < depth; k0 += TileDepth)
        {
            int half = Taps.Half(k0);
            // Weight tile [TileDepth][rows]: W[co, k0 + kk]; threads run along k (contiguous in memory).
            for (int e = t; e < TileDepth * g.Rows; e += TileThreads)
            {
                int kk = IndexMath.Remainder(e, TileDepth), m = e / TileDepth;
                int co = co0 + m, k = k0 + kk;
                weightTile[kk * g.Rows + m] = co < s.OutChannels && k < depth ? weight[co * depth + k] : 0f;
            }
            // Input tile [TileDepth][columns]: relu(bn(x)) gathered from the image, threads run along pixels.
            for (int kk = loadRow; kk < TileDepth; kk += TileThreads / g.Columns)
                inputTile[kk * g.Columns + loadColumn] = pixelValid ? LoadInput(s, input, prologue, imageBase, y0, x0, taps, half + kk) : 0f;
            taps.DecodeNext(k0, depth, s.Kernel);
            Group.Barrier();
            block.Steps8(weightQuads, inputQuads, g); // TileDepth = 8
            Group.Barrier();
        }

        ForwardEpilogue(s, block, g, pixel0, co0, output, sums, statistics, withStatistics);
    }

    /// <summary>
    /// Writes a forward tile's block (this thread's 4 x 4 outputs) and, with <paramref name="withStatistics"/> = 1, the
    /// tile's per-channel sums and sums of squares (float64) into statistics[(column tile * OutChannels + co) * 2].
    /// Every thread of the group must call it (the statistics go through shared memory).
    /// </summary>
    private static void ForwardEpilogue(ConvShape s, Block4x4 block, TileGeometry g, int pixel0, int co0, ArrayView<float> output,
        ArrayView<double> sums, ArrayView<double> statistics, int withStatistics)
    {
        StoreForwardBlock(s, block, g, pixel0, co0, output);
        if (withStatistics == 0) return; // uniform over the group: the barriers below are safe

        int pixels = s.Batch * s.OutSize * s.OutSize, tile = pixel0 / g.Columns, first = pixel0 + g.Column;
        for (int i = 0; i < 4; i++)
        {
            RowStatistics(block, i, first, pixels, out double sum, out double squares);
            int co = co0 + g.Row + i;
            SumRow(sums, g, sum, squares, co < s.OutChannels, statistics, (tile * s.OutChannels + co) * 2);
        }
    }

    /// <summary>Writes a forward tile's block (this thread's 4 x 4 outputs) into the output tensor.</summary>
    private static void StoreForwardBlock(ConvShape s, Block4x4 block, TileGeometry g, int pixel0, int co0, ArrayView<float> output)
    {
        int outArea = s.OutSize * s.OutSize, pixels = s.Batch * outArea;
        for (int j = 0; j < 4; j++)
        {
            int q = pixel0 + g.Column + j;
            if (q >= pixels) continue;
            int qn = q / outArea, qr = q - qn * outArea;
            int at = (qn * s.OutStride + s.OutOffset) * outArea + qr; // channel 0 of this pixel
            block.Column(j, out float r0, out float r1, out float r2, out float r3);
            StoreColumn(output, at, co0 + g.Row, s.OutChannels, outArea, r0, r1, r2, r3);
        }
    }

    /// <summary>Row i of this thread's block: the sum and sum of squares (float64) of its outputs at pixels below <paramref name="pixels"/>.</summary>
    private static void RowStatistics(Block4x4 block, int i, int first, int pixels, out double sum, out double squares)
    {
        block.Row(i, out float c0, out float c1, out float c2, out float c3);
        sum = 0;
        squares = 0;
        if (first < pixels) { sum += c0; squares += (double)c0 * c0; }
        if (first + 1 < pixels) { sum += c1; squares += (double)c1 * c1; }
        if (first + 2 < pixels) { sum += c2; squares += (double)c2 * c2; }
        if (first + 3 < pixels) { sum += c3; squares += (double)c3 * c3; }
    }

    /// <summary>
    /// One group per output channel c of <paramref name="r"/>: adds the channel's per-tile sums of <see cref="ForwardTiled"/>
    /// in a fixed order (deterministic) and writes its batch mean, variance and 1/sqrt(variance + epsilon), and its
    /// consumers' scale, shift and running statistics (<see cref="BatchNormFold"/>).
    /// </summary>
    public static void FinishStatisticsFromTiles(ChannelRange r, int tiles, ArrayView<double> partials, ArrayView<float> mean, ArrayView<float> variance, ArrayView<float> invStd, float epsilon,
        BatchNormFold fold)
    {
        var shared = SharedMemory.Allocate<double>(GroupReduce.MaxGroupSize);
        int c = Grid.IdxX;
        double sum = 0, squares = 0;
        for (int tile = Group.IdxX; tile < tiles; tile += Group.DimX)
        {
            int at = (tile * r.Count + c) * 2;
            sum += partials[at];
            squares += partials[at + 1];
        }
        double total = GroupReduce.Sum(shared, sum);
        double totalSquares = GroupReduce.Sum(shared, squares);
        BatchNormKernels.FinishStatistics(r, c, total, totalSquares, mean, variance, invStd, epsilon, fold, Group.IdxX, Group.DimX);
    }

    /// <summary>
    /// dY at reduction index k = (co, ky, kx) for input pixel (n, iy, ix): the output gradient at the output pixel whose
    /// window puts tap (ky, kx) on the input pixel, or zero where no output does (borders, stride gaps).
    /// </summary>
    private static float LoadOutputGradient(ConvShape s, ArrayView<float> dOut, int gradientBase, int iy, int ix, int co, int ky, int kx)
    {
        int ty = iy + s.Padding - ky, tx = ix + s.Padding - kx;
        if (co < 0 || ty < 0 || tx < 0) return 0f;
        int oy = ty, ox = tx;
        if (s.Stride != 1)
        {
            oy = ty / s.Stride;
            ox = tx / s.Stride;
            if (oy * s.Stride != ty || ox * s.Stride != tx) return 0f;
        }
        if (oy >= s.OutSize || ox >= s.OutSize) return 0f;
        return dOut[gradientBase + (co * s.OutSize + oy) * s.OutSize + ox];
    }

    /// <summary>
    /// The product dX = W^T dY for one tile (input channels x input pixels): the shared body of both backward-input
    /// kernels. Returns the thread's block; ci0 and q0 are the tile's first channel and pixel.
    /// </summary>
    private static Block4x4 InputGradientTile(ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, TileGeometry g, out int ci0, out int q0)
    {
        var (weightTile, weightQuads) = SharedTile(TileDepth * MaxTileRows);
        var (gradientTile, gradientQuads) = SharedTile(TileDepth * MaxTileColumns);
        int t = Group.IdxX;
        int inArea = s.InSize * s.InSize, pixels = s.Batch * inArea, kk2 = s.Kernel * s.Kernel, depth = s.OutChannels * kk2;
        int columnTiles = Ceiling(pixels, g.Columns);
        q0 = Grid.IdxX % columnTiles * g.Columns;
        ci0 = Grid.IdxX / columnTiles * g.Rows;

        int loadColumn = t % g.Columns, loadRow = t / g.Columns;
        int q = q0 + loadColumn;
        bool pixelValid = q < pixels;
        int n = q / inArea, qr = q - n * inArea, iy = qr / s.InSize, ix = qr - iy * s.InSize;
        int gradientBase = (n * s.OutStride + s.OutOffset) * s.OutSize * s.OutSize;
        int weightRow = s.InChannels * kk2; // W[co, ci, ky, kx] = weight[co * weightRow + ci * kk2 + r]

        var taps = Taps.ForSteps(depth, s.Kernel); // k = (co, ky, kx)

        var block = default(Block4x4);
        for (int k0 = 0; k0 < depth; k0 += TileDepth)
        {
            int half = Taps.Half(k0);
            for (int e = t; e < TileDepth * g.Rows; e += TileThreads)
            {
                int kk = IndexMath.Remainder(e, TileDepth), m = e / TileDepth;
                int ci = ci0 + m, co = taps.Channel[half + kk];
                weightTile[kk * g.Rows + m] = ci < s.InChannels && co >= 0
                    ? weight[co * weightRow + ci * kk2 + taps.Y[half + kk] * s.Kernel + taps.X[half + kk]]
                    : 0f;
            }
            for (int kk = loadRow; kk < TileDepth; kk += TileThreads / g.Columns)
                gradientTile[kk * g.Columns + loadColumn] = pixelValid ? LoadOutputGradient(s, dOut, gradientBase, iy, ix, taps.Channel[half + kk], taps.Y[half + kk], taps.X[half + kk]) : 0f;
            taps.DecodeNext(k0, depth, s.Kernel);
            Group.Barrier();
            block.Steps8(weightQuads, gradientQuads, g); // TileDepth = 8
            Group.Barrier();
        }
        return block;
    }

    /// <summary>
    /// Backward-input of a conv with a plain input (the transition's 1x1 conv after pooling), version 2. Launch with
    /// <see cref="TileGroups"/>(InChannels, Batch * InSize^2, tileRows) groups of <see cref="TileThreads"/> threads.
    /// </summary>
    public static void BackwardInputTiled(ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> dInput, int tileRows)
    {
        var g = new TileGeometry(tileRows);
        var block = InputGradientTile(s, dOut, weight, g, out int ci0, out int q0);
        InputGradientEpilogue(s, block, g, ci0, q0, dInput);
    }

    /// <summary>Writes a backward-input tile's block (this thread's 4 x 4 input gradients).</summary>
    private static void InputGradientEpilogue(ConvShape s, Block4x4 block, TileGeometry g, int ci0, int q0, ArrayView<float> dInput)
    {
        int inArea = s.InSize * s.InSize, pixels = s.Batch * inArea;
        for (int j = 0; j < 4; j++)
        {
            int q = q0 + g.Column + j;
            if (q >= pixels) continue;
            int n = q / inArea, at = n * s.InStride * inArea + (q - n * inArea);
            block.Column(j, out float r0, out float r1, out float r2, out float r3);
            StoreColumn(dInput, at, ci0 + g.Row, s.InChannels, inArea, r0, r1, r2, r3);
        }
    }

    /// <summary>
    /// Backward through BN-ReLU into a shared-statistics tensor (DESIGN §4.5), version 2: the tile's dX = W^T dY, then
    /// in the epilogue dA = dX where the consumer's ReLU let the value through, G += gamma * dA, and the channel sums
    /// of dA and dA * xhat over the tile's pixels, written to <paramref name="partials"/>[(tile * InChannels + ci) * 2],
    /// tile = first pixel / tile columns. <see cref="FinishChannelsFromTiles"/> then finishes the channels. Launch as
    /// <see cref="BackwardInputTiled"/>.
    /// </summary>
    public static void BackwardInputThroughBatchNormTiled(
        ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> input, Prologue prologue, BatchNormBackward bn, ArrayView<double> partials, int tileRows)
    {
        var sums = SharedMemory.Allocate<double>(2 * TileThreads);
        var g = new TileGeometry(tileRows);
        var block = InputGradientTile(s, dOut, weight, g, out int ci0, out int q0);
        ThroughBatchNormEpilogue(s, block, g, ci0, q0, input, prologue, bn, sums, partials);
    }

    /// <summary>
    /// The epilogue of a backward-input tile through BN-ReLU: dA where the consumer's ReLU let the value through,
    /// G += gamma * dA, and the tile's channel sums of dA and dA * xhat into partials[(tile * InChannels + ci) * 2].
    /// Every thread of the group must call it.
    /// </summary>
    private static void ThroughBatchNormEpilogue(ConvShape s, Block4x4 block, TileGeometry g, int ci0, int q0, ArrayView<float> input, Prologue prologue,
        BatchNormBackward bn, ArrayView<double> sums, ArrayView<double> partials)
    {
        int inArea = s.InSize * s.InSize, pixels = s.Batch * inArea;
        int tile = q0 / g.Columns, first = q0 + g.Column;
        for (int i = 0; i < 4; i++)
        {
            int ci = ci0 + g.Row + i;
            RowBatchNorm(s, block, i, ci, first, pixels, inArea, input, prologue, bn, out double sumA, out double sumAX);
            SumRow(sums, g, sumA, sumAX, ci < s.InChannels, partials, (tile * s.InChannels + ci) * 2);
        }
    }

    /// <summary>
    /// Row i (channel ci) of this thread's block through BN-ReLU: dA where the consumer's ReLU let the value through,
    /// G += gamma * dA, and the row's sums of dA and dA * xhat (0 past the last channel).
    /// </summary>
    private static void RowBatchNorm(ConvShape s, Block4x4 block, int i, int ci, int first, int pixels, int inArea, ArrayView<float> input, Prologue prologue,
        BatchNormBackward bn, out double sumA, out double sumAX)
    {
        sumA = 0;
        sumAX = 0;
        if (ci >= s.InChannels) return;
        block.Row(i, out float d0, out float d1, out float d2, out float d3);
        float gamma = bn.Gamma[ci], mean = bn.Mean[ci], invStd = bn.InvStd[ci], scale = prologue.Scale[ci], shift = prologue.Shift[ci];
        AccumulateBatchNorm(s, input, bn, ci, first, pixels, inArea, d0, gamma, mean, invStd, scale, shift, ref sumA, ref sumAX);
        AccumulateBatchNorm(s, input, bn, ci, first + 1, pixels, inArea, d1, gamma, mean, invStd, scale, shift, ref sumA, ref sumAX);
        AccumulateBatchNorm(s, input, bn, ci, first + 2, pixels, inArea, d2, gamma, mean, invStd, scale, shift, ref sumA, ref sumAX);
        AccumulateBatchNorm(s, input, bn, ci, first + 3, pixels, inArea, d3, gamma, mean, invStd, scale, shift, ref sumA, ref sumAX);
    }

    private static void AccumulateBatchNorm(
        ConvShape s, ArrayView<float> input, BatchNormBackward bn, int ci, int q, int pixels, int inArea, float dY,
        float gamma, float mean, float invStd, float scale, float shift, ref double sumA, ref double sumAX)
    {
        if (q >= pixels) return;
        int n = q / inArea;
        int at = (n * s.InStride + ci) * inArea + (q - n * inArea);
        float x = input[at];
        if (x * scale + shift <= 0f) { BatchNormKernels.Blocked(bn, at); return; } // the consumer's ReLU blocked it: no gradient
        BatchNormKernels.Accumulate(bn, at, x, dY, gamma, mean, invStd, ref sumA, ref sumAX);
    }

    /// <summary>
    /// Adds each input channel's per-tile sums of a backward through BN (<see cref="BackwardInputThroughBatchNormTiled"/>
    /// and the other versions' products, the pooling backwards' chunks; a fixed order: deterministic) and finishes the
    /// channel: DBeta, DGamma, S1, S2, one group per channel. The last <see cref="BatchNormBackward.FinalizeCount"/>
    /// channels, whose last consumer this is, are finished by <paramref name="chunks"/> groups each, which add the same
    /// sums in the same order and each turn a chunk of the channel's elements into the producer's output gradient
    /// (BatchNormKernels.FinishChannelInGroup), so that apply needs no launch of its own. Launch
    /// <see cref="FinishChannelGroups"/> groups.
    /// </summary>
    public static void FinishChannelsFromTiles(ChannelRange layout, int tiles, int chunks, ArrayView<double> partials, ArrayView<float> input, BatchNormBackward bn)
    {
        int open = layout.Count - bn.FinalizeCount, group = Grid.IdxX;
        int chunk = group < open ? 0 : (group - open) % chunks;
        int ci = group < open ? group : open + (group - open) / chunks;
        double sumA = 0, sumAX = 0;
        for (int tile = Group.IdxX; tile < tiles; tile += Group.DimX)
        {
            int at = (tile * layout.Count + ci) * 2;
            sumA += partials[at];
            sumAX += partials[at + 1];
        }
        int span = Ceiling(layout.PerChannel, chunks), begin = chunk * span, end = begin + span < layout.PerChannel ? begin + span : layout.PerChannel;
        BatchNormKernels.FinishChannelInGroup(bn, layout, input, ci, sumA, sumAX, begin, end, writesParameters: chunk == 0);
    }

    /// <summary>Groups of a <see cref="FinishChannelsFromTiles"/> launch: one per channel, <paramref name="chunks"/> per finalized one.</summary>
    public static int FinishChannelGroups(int channels, int finalized, int chunks) => channels - finalized + finalized * chunks;

    /// <summary>
    /// Groups per finalized channel in <see cref="FinishChannelsFromTiles"/>: about 8 elements per thread (BC-100's first
    /// block at batch 64: 32 groups of 256 for each of a layer's 12 new channels), 1 where a channel is small, at most 64
    /// (each group adds the channel's tile sums again: small groups, as the CPU accelerator's, would repeat them often).
    /// </summary>
    public static int FinalizeChunks(ChannelRange layout, int groupSize) => System.Math.Clamp(Ceiling(layout.PerChannel, 8 * groupSize), 1, 64);

    /// <summary>
    /// Backward-weights, version 2: dW[co, K] = sum over pixels of dY[co, p] * relu(bn(X))[K, p], a tile of (output
    /// channels x weight columns) per group, over one chunk of <paramref name="chunk"/> pixels (a multiple of
    /// <see cref="TileDepth"/>). Writes partials[split][co * K + k]; <see cref="SumSplits"/> adds the splits. Launch
    /// with TileGroups(OutChannels, InChannels * Kernel^2, tileRows) * splits groups of <see cref="TileThreads"/> threads.
    /// </summary>
    public static void BackwardWeightsTiled(ConvShape s, ArrayView<float> input, Prologue prologue, ArrayView<float> dOut, ArrayView<float> partials, int chunk, int tileRows)
    {
        var (gradientTile, gradientQuads) = SharedTile(TileDepth * MaxTileRows);
        var (inputTile, inputQuads) = SharedTile(TileDepth * MaxTileColumns);
        var g = new TileGeometry(tileRows);
        int t = Group.IdxX;
        int outArea = s.OutSize * s.OutSize, pixels = s.Batch * outArea, kk2 = s.Kernel * s.Kernel, depth = s.InChannels * kk2;
        int tiles = TileGroups(s.OutChannels, depth, tileRows), columnTiles = Ceiling(depth, g.Columns);
        int split = Grid.IdxX / tiles, tileIndex = Grid.IdxX - split * tiles;
        int k0 = tileIndex % columnTiles * g.Columns, co0 = tileIndex / columnTiles * g.Rows;
        int begin = split * chunk, end = begin + chunk < pixels ? begin + chunk : pixels;

        // Each thread loads one pixel per step (pp), decoded once per step, for rows lane, lane + 16 of the gradient tile
        // and columns lane, lane + 16, ... of the input tile: neighbouring threads read neighbouring pixels.
        int pp = t % TileDepth, lane = t / TileDepth; // lane 0..15

        // The tile's weight columns k0 .. k0 + columns are the same for every step: decode them once.
        var taps = Taps.Allocate(MaxTileColumns);
        for (int c = t; c < g.Columns; c += TileThreads) taps.Decode(c, k0 + c, depth, s.Kernel);
        Group.Barrier();

        var block = default(Block4x4);
        for (int p0 = begin; p0 < end; p0 += TileDepth)
        {
            int p = p0 + pp;
            bool valid = p < end;
            int n = p / outArea, pr = p - n * outArea, oy = pr / s.OutSize, ox = pr - oy * s.OutSize;
            int gradientAt = (n * s.OutStride + s.OutOffset) * outArea + pr;
            for (int m = lane; m < g.Rows; m += 16)
            {
                int co = co0 + m;
                gradientTile[pp * g.Rows + m] = valid && co < s.OutChannels ? dOut[gradientAt + co * outArea] : 0f;
            }
            int imageBase = n * s.InStride * s.InSize * s.InSize, y0 = oy * s.Stride - s.Padding, x0 = ox * s.Stride - s.Padding;
            for (int c = lane; c < g.Columns; c += 16)
                inputTile[pp * g.Columns + c] = valid ? LoadInput(s, input, prologue, imageBase, y0, x0, taps, c) : 0f;
            Group.Barrier();
            block.Steps8(gradientQuads, inputQuads, g); // TileDepth = 8
            Group.Barrier();
        }

        WeightsEpilogue(s, block, g, split, co0, k0, partials);
    }

    /// <summary>Writes a weight-gradient tile's block into its split's partial product, partials[split][co * K + k].</summary>
    private static void WeightsEpilogue(ConvShape s, Block4x4 block, TileGeometry g, int split, int co0, int k0, ArrayView<float> partials)
    {
        int depth = s.InChannels * s.Kernel * s.Kernel, weights = s.OutChannels * depth, splitBase = split * weights;
        for (int i = 0; i < 4; i++)
        {
            int co = co0 + g.Row + i;
            if (co >= s.OutChannels) continue;
            block.Row(i, out float c0, out float c1, out float c2, out float c3);
            int k = k0 + g.Column, at = splitBase + co * depth + k;
            if (k < depth) partials[at] = c0;
            if (k + 1 < depth) partials[at + 1] = c1;
            if (k + 2 < depth) partials[at + 2] = c2;
            if (k + 3 < depth) partials[at + 3] = c3;
        }
    }

    /// <summary>dW[w] = the sum over splits of partials[split * weights + w], in split order, in float64.</summary>
    public static void SumSplits(Index1D index, int weights, int splits, ArrayView<float> partials, ArrayView<float> dWeight)
    {
        int w = index;
        double sum = 0;
        for (int split = 0; split < splits; split++) sum += partials[split * weights + w];
        dWeight[w] = (float)sum;
    }
}
