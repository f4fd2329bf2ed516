using ILGPU;

namespace DenseGen.Kernels;

/// <summary>
/// BN-ReLU-Conv, version 2: implicit GEMM through shared memory with 4x4 register blocking.
/// What changes from version 1 (<c>ConvolutionKernels.cs</c>):
/// - Each conv is a matrix product whose operands are gathered while loading, never materialised (no im2col buffer):
///   forward out[co, p] = W[co, K] * X[K, p] with K = (ci, ky, kx) and p = (n, oy, ox); backward-input
///   dX[ci, q] = W^T[ci, K'] * dY[K', q] with K' = (co, ky, kx); backward-weights dW[co, K] = dY[co, p] * X[K, p]^T.
/// - A group of 128 threads computes a 32 x 64 tile of the product in steps of 8 along the reduction: the two operand
///   tiles go to shared memory once per step (the BN-ReLU prologue is applied once per loaded element, not once per
///   use), and each thread keeps a 4 x 4 block of the result in registers (16 scalar locals, not an array, so ILGPU
///   keeps them in registers). A thread's rows are ty, ty+8, ty+16, ty+24 and its columns tx, tx+16, tx+32, tx+48, so
///   neighbouring threads read neighbouring shared words (no bank conflicts) and write neighbouring output pixels.
/// - Backward-weights reduces over N*H*W pixels: the pixels are split into chunks (split-K), each group writes a partial
///   product for its chunk, and <see cref="SumSplits"/> adds the chunks in a fixed order in float64 (deterministic).
/// - Backward-input through BN computes the BN-backward terms (G += gamma * dA, sum dA, sum dA * xhat) in the epilogue,
///   from the accumulators; the per-channel sums of each pixel tile go to a partial buffer that
///   <see cref="FinishChannelsFromTiles"/> reduces in a fixed order, one group per channel.
/// Correct on every backend (no warp shuffles, no atomics). Needs groups of <see cref="TileThreads"/> threads
/// (ComputeDevice opens ILGPU's CPU accelerator with groups that large). Checked against the float64 references in
/// the tests, like version 1.
/// </summary>
internal static partial class ConvolutionKernels
{
    /// <summary>Rows of a tile: output channels (forward, backward-weights) or input channels (backward-input).</summary>
    public const int TileRows = 32;
    /// <summary>Columns of a tile: pixels (forward, backward-input) or weight columns K (backward-weights).</summary>
    public const int TileColumns = 64;
    /// <summary>Reduction elements per shared-memory step.</summary>
    public const int TileDepth = 8;
    public const int TileThreads = 128;

    /// <summary>Groups for a rows x columns product: column tiles vary fastest (neighbouring groups share weights).</summary>
    public static int TileGroups(int rows, int columns) => Ceiling(rows, TileRows) * Ceiling(columns, TileColumns);

    public static int Ceiling(int a, int b) => (a + b - 1) / b;

    /// <summary>A thread's 4 x 4 block of the product, in registers.</summary>
    private struct Block4x4
    {
        public float A00, A01, A02, A03, A10, A11, A12, A13, A20, A21, A22, A23, A30, A31, A32, A33;

        /// <summary>Adds one step of the product: rows at left[ty + 8i], columns at right[tx + 16j].</summary>
        public void Step(ArrayView<float> left, int leftAt, ArrayView<float> right, int rightAt)
        {
            float a0 = left[leftAt], a1 = left[leftAt + 8], a2 = left[leftAt + 16], a3 = left[leftAt + 24];
            float b0 = right[rightAt], b1 = right[rightAt + 16], b2 = right[rightAt + 32], b3 = right[rightAt + 48];
            A00 += a0 * b0; A01 += a0 * b1; A02 += a0 * b2; A03 += a0 * b3;
            A10 += a1 * b0; A11 += a1 * b1; A12 += a1 * b2; A13 += a1 * b3;
            A20 += a2 * b0; A21 += a2 * b1; A22 += a2 * b2; A23 += a2 * b3;
            A30 += a3 * b0; A31 += a3 * b1; A32 += a3 * b2; A33 += a3 * b3;
        }

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

    /// <summary>relu(bn(x)) of the prologue, or x; zero outside the image (padding lies outside BN-ReLU, as in PyTorch).</summary>
    private static float LoadInput(ConvShape s, ArrayView<float> input, Prologue prologue, int imageBase, int y0, int x0, int k)
    {
        int kk = s.Kernel * s.Kernel;
        int ci = k, ky = 0, kx = 0;
        if (kk != 1)
        {
            ci = k / kk;
            int r = k - ci * kk;
            ky = r / s.Kernel;
            kx = r - ky * s.Kernel;
        }
        int iy = y0 + ky, ix = x0 + kx;
        if (iy < 0 || iy >= s.InSize || ix < 0 || ix >= s.InSize) return 0f;
        float x = input[imageBase + (ci * s.InSize + iy) * s.InSize + ix];
        if (prologue.Enabled != 0) { x = x * prologue.Scale[ci] + prologue.Shift[ci]; x = x > 0f ? x : 0f; }
        return x;
    }

    /// <summary>
    /// Forward, version 2: out = W * relu(bn(X)) as a tiled implicit GEMM. Launch with <see cref="TileGroups"/>(OutChannels,
    /// Batch * OutSize^2) groups of <see cref="TileThreads"/> threads.
    /// </summary>
    public static void ForwardTiled(ConvShape s, ArrayView<float> input, ArrayView<float> weight, Prologue prologue, ArrayView<float> output)
    {
        var weightTile = SharedMemory.Allocate<float>(TileDepth * TileRows);
        var inputTile = SharedMemory.Allocate<float>(TileDepth * TileColumns);
        int t = Group.IdxX, tx = t % 16, ty = t / 16;
        int outArea = s.OutSize * s.OutSize, pixels = s.Batch * outArea, depth = s.InChannels * s.Kernel * s.Kernel;
        int columnTiles = Ceiling(pixels, TileColumns);
        int pixel0 = Grid.IdxX % columnTiles * TileColumns, co0 = Grid.IdxX / columnTiles * TileRows;

        // The pixel this thread loads for the input tile (fixed for the whole reduction): decoded once.
        int loadColumn = t % TileColumns, loadRow = t / TileColumns;
        int p = pixel0 + loadColumn;
        bool pixelValid = p < pixels;
        int n = p / outArea, pr = p - n * outArea, oy = pr / s.OutSize, ox = pr - oy * s.OutSize;
        int imageBase = n * s.InStride * s.InSize * s.InSize;
        int y0 = oy * s.Stride - s.Padding, x0 = ox * s.Stride - s.Padding;

        var block = default(Block4x4);
        for (int k0 = 0; k0 < depth; k0 += TileDepth)
        {
            // Weight tile [TileDepth][TileRows]: W[co, k0 + kk]; threads run along k (contiguous in memory).
            for (int e = t; e < TileDepth * TileRows; e += TileThreads)
            {
                int kk = e % TileDepth, m = e / TileDepth;
                int co = co0 + m, k = k0 + kk;
                weightTile[kk * TileRows + m] = co < s.OutChannels && k < depth ? weight[co * depth + k] : 0f;
            }
            // Input tile [TileDepth][TileColumns]: relu(bn(x)) gathered from the image, threads run along pixels.
            for (int kk = loadRow; kk < TileDepth; kk += TileThreads / TileColumns)
            {
                int k = k0 + kk;
                inputTile[kk * TileColumns + loadColumn] = pixelValid && k < depth ? LoadInput(s, input, prologue, imageBase, y0, x0, k) : 0f;
            }
            Group.Barrier();
            for (int kk = 0; kk < TileDepth; kk++) block.Step(weightTile, kk * TileRows + ty, inputTile, kk * TileColumns + tx);
            Group.Barrier();
        }

        for (int j = 0; j < 4; j++)
        {
            int q = pixel0 + tx + 16 * j;
            if (q >= pixels) continue;
            int qn = q / outArea, qr = q - qn * outArea;
            int at = (qn * s.OutStride + s.OutOffset) * outArea + qr; // channel 0 of this pixel
            block.Column(j, out float r0, out float r1, out float r2, out float r3);
            int co = co0 + ty;
            if (co < s.OutChannels) output[at + co * outArea] = r0;
            if (co + 8 < s.OutChannels) output[at + (co + 8) * outArea] = r1;
            if (co + 16 < s.OutChannels) output[at + (co + 16) * outArea] = r2;
            if (co + 24 < s.OutChannels) output[at + (co + 24) * outArea] = r3;
        }
    }

    /// <summary>
    /// dY at reduction index k = (co, ky, kx) for input pixel (n, iy, ix): the output gradient at the output pixel whose
    /// window puts tap (ky, kx) on the input pixel, or zero where no output does (borders, stride gaps).
    /// </summary>
    private static float LoadOutputGradient(ConvShape s, ArrayView<float> dOut, int gradientBase, int iy, int ix, int k)
    {
        int kk = s.Kernel * s.Kernel;
        int co = k, ky = 0, kx = 0;
        if (kk != 1)
        {
            co = k / kk;
            int r = k - co * kk;
            ky = r / s.Kernel;
            kx = r - ky * s.Kernel;
        }
        int ty = iy + s.Padding - ky, tx = ix + s.Padding - kx;
        if (ty < 0 || tx < 0) return 0f;
        int oy = ty / s.Stride, ox = tx / s.Stride;
        if (oy * s.Stride != ty || ox * s.Stride != tx || oy >= s.OutSize || ox >= s.OutSize) return 0f;
        return dOut[gradientBase + (co * s.OutSize + oy) * s.OutSize + ox];
    }

    /// <summary>
    /// The product dX = W^T dY for one 32 x 64 tile (input channels x input pixels): the shared body of both
    /// backward-input kernels. Returns the thread's block; ci0 and q0 are the tile's first channel and pixel.
    /// </summary>
    private static Block4x4 InputGradientTile(ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, out int ci0, out int q0)
    {
        var weightTile = SharedMemory.Allocate<float>(TileDepth * TileRows);
        var gradientTile = SharedMemory.Allocate<float>(TileDepth * TileColumns);
        int t = Group.IdxX, tx = t % 16, ty = t / 16;
        int inArea = s.InSize * s.InSize, pixels = s.Batch * inArea, kk2 = s.Kernel * s.Kernel, depth = s.OutChannels * kk2;
        int columnTiles = Ceiling(pixels, TileColumns);
        q0 = Grid.IdxX % columnTiles * TileColumns;
        ci0 = Grid.IdxX / columnTiles * TileRows;

        int loadColumn = t % TileColumns, loadRow = t / TileColumns;
        int q = q0 + loadColumn;
        bool pixelValid = q < pixels;
        int n = q / inArea, qr = q - n * inArea, iy = qr / s.InSize, ix = qr - iy * s.InSize;
        int gradientBase = (n * s.OutStride + s.OutOffset) * s.OutSize * s.OutSize;
        int weightRow = s.InChannels * kk2; // W[co, ci, ky, kx] = weight[co * weightRow + ci * kk2 + r]

        var block = default(Block4x4);
        for (int k0 = 0; k0 < depth; k0 += TileDepth)
        {
            for (int e = t; e < TileDepth * TileRows; e += TileThreads)
            {
                int kk = e % TileDepth, m = e / TileDepth;
                int ci = ci0 + m, k = k0 + kk;
                float w = 0f;
                if (ci < s.InChannels && k < depth)
                {
                    int co = k / kk2, r = k - co * kk2;
                    w = weight[co * weightRow + ci * kk2 + r];
                }
                weightTile[kk * TileRows + m] = w;
            }
            for (int kk = loadRow; kk < TileDepth; kk += TileThreads / TileColumns)
            {
                int k = k0 + kk;
                gradientTile[kk * TileColumns + loadColumn] = pixelValid && k < depth ? LoadOutputGradient(s, dOut, gradientBase, iy, ix, k) : 0f;
            }
            Group.Barrier();
            for (int kk = 0; kk < TileDepth; kk++) block.Step(weightTile, kk * TileRows + ty, gradientTile, kk * TileColumns + tx);
            Group.Barrier();
        }
        return block;
    }

    /// <summary>
    /// Backward-input of a conv with a plain input (the transition's 1x1 conv after pooling), version 2. Launch with
    /// <see cref="TileGroups"/>(InChannels, Batch * InSize^2) groups of <see cref="TileThreads"/> threads.
    /// </summary>
    public static void BackwardInputTiled(ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> dInput)
    {
        var block = InputGradientTile(s, dOut, weight, out int ci0, out int q0);
        int tx = Group.IdxX % 16, ty = Group.IdxX / 16, inArea = s.InSize * s.InSize, pixels = s.Batch * inArea;
        for (int j = 0; j < 4; j++)
        {
            int q = q0 + tx + 16 * j;
            if (q >= pixels) continue;
            int n = q / inArea, at = n * s.InStride * inArea + (q - n * inArea);
            block.Column(j, out float r0, out float r1, out float r2, out float r3);
            int ci = ci0 + ty;
            if (ci < s.InChannels) dInput[at + ci * inArea] = r0;
            if (ci + 8 < s.InChannels) dInput[at + (ci + 8) * inArea] = r1;
            if (ci + 16 < s.InChannels) dInput[at + (ci + 16) * inArea] = r2;
            if (ci + 24 < s.InChannels) dInput[at + (ci + 24) * inArea] = r3;
        }
    }

    /// <summary>
    /// Backward through BN-ReLU into a shared-statistics tensor (DESIGN §4.5), version 2: the tile's dX = W^T dY, then
    /// in the epilogue dA = dX where the consumer's ReLU let the value through, G += gamma * dA, and the channel sums
    /// of dA and dA * xhat over the tile's pixels, written to <paramref name="partials"/>[(tile * InChannels + ci) * 2].
    /// <see cref="FinishChannelsFromTiles"/> then finishes the channels. Launch as <see cref="BackwardInputTiled"/>.
    /// </summary>
    public static void BackwardInputThroughBatchNormTiled(
        ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> input, Prologue prologue, BatchNormBackward bn, ArrayView<double> partials)
    {
        var sums = SharedMemory.Allocate<double>(2 * TileThreads);
        var block = InputGradientTile(s, dOut, weight, out int ci0, out int q0);
        int t = Group.IdxX, tx = t % 16, ty = t / 16, inArea = s.InSize * s.InSize, pixels = s.Batch * inArea;
        int tile = q0 / TileColumns;
        for (int i = 0; i < 4; i++)
        {
            int ci = ci0 + ty + 8 * i;
            double sumA = 0, sumAX = 0;
            if (ci < s.InChannels)
            {
                block.Row(i, out float d0, out float d1, out float d2, out float d3);
                float gamma = bn.Gamma[ci], mean = bn.Mean[ci], invStd = bn.InvStd[ci], scale = prologue.Scale[ci], shift = prologue.Shift[ci];
                AccumulateBatchNorm(s, input, bn, ci, q0 + tx, pixels, inArea, d0, gamma, mean, invStd, scale, shift, ref sumA, ref sumAX);
                AccumulateBatchNorm(s, input, bn, ci, q0 + tx + 16, pixels, inArea, d1, gamma, mean, invStd, scale, shift, ref sumA, ref sumAX);
                AccumulateBatchNorm(s, input, bn, ci, q0 + tx + 32, pixels, inArea, d2, gamma, mean, invStd, scale, shift, ref sumA, ref sumAX);
                AccumulateBatchNorm(s, input, bn, ci, q0 + tx + 48, pixels, inArea, d3, gamma, mean, invStd, scale, shift, ref sumA, ref sumAX);
            }
            // The 16 threads of a row (same ty) hold the same channel: sum them in a fixed order.
            sums[2 * t] = sumA;
            sums[2 * t + 1] = sumAX;
            Group.Barrier();
            if (tx == 0 && ci < s.InChannels)
            {
                double a = 0, ax = 0;
                for (int u = 0; u < 16; u++) { a += sums[2 * (t + u)]; ax += sums[2 * (t + u) + 1]; }
                int at = (tile * s.InChannels + ci) * 2;
                partials[at] = a;
                partials[at + 1] = ax;
            }
            Group.Barrier();
        }
    }

    private static void AccumulateBatchNorm(
        ConvShape s, ArrayView<float> input, BatchNormBackward bn, int ci, int q, int pixels, int inArea, float dY,
        float gamma, float mean, float invStd, float scale, float shift, ref double sumA, ref double sumAX)
    {
        if (q >= pixels) return;
        int n = q / inArea;
        int at = (n * s.InStride + ci) * inArea + (q - n * inArea);
        float x = input[at];
        if (x * scale + shift <= 0f) return; // the consumer's ReLU blocked it: no gradient
        BatchNormKernels.Accumulate(bn, at, x, dY, gamma, mean, invStd, ref sumA, ref sumAX);
    }

    /// <summary>
    /// One group per input channel: adds the channel's per-tile sums of <see cref="BackwardInputThroughBatchNormTiled"/>
    /// (a fixed order: deterministic) and finishes the channel (DBeta, DGamma, S1, S2).
    /// </summary>
    public static void FinishChannelsFromTiles(int channels, int tiles, ArrayView<double> partials, BatchNormBackward bn)
    {
        int ci = Grid.IdxX;
        double sumA = 0, sumAX = 0;
        for (int tile = Group.IdxX; tile < tiles; tile += Group.DimX)
        {
            int at = (tile * channels + ci) * 2;
            sumA += partials[at];
            sumAX += partials[at + 1];
        }
        BatchNormKernels.FinishChannelInGroup(bn, ci, sumA, sumAX);
    }

    /// <summary>
    /// Backward-weights, version 2: dW[co, K] = sum over pixels of dY[co, p] * relu(bn(X))[K, p], a 32 x 64 tile of
    /// (output channels x weight columns) per group, over one chunk of <paramref name="chunk"/> pixels (a multiple of
    /// <see cref="TileDepth"/>). Writes partials[split][co * K + k]; <see cref="SumSplits"/> adds the splits. Launch
    /// with TileGroups(OutChannels, InChannels * Kernel^2) * splits groups of <see cref="TileThreads"/> threads.
    /// </summary>
    public static void BackwardWeightsTiled(ConvShape s, ArrayView<float> input, Prologue prologue, ArrayView<float> dOut, ArrayView<float> partials, int chunk)
    {
        var gradientTile = SharedMemory.Allocate<float>(TileDepth * TileRows);
        var inputTile = SharedMemory.Allocate<float>(TileDepth * TileColumns);
        int t = Group.IdxX, tx = t % 16, ty = t / 16;
        int outArea = s.OutSize * s.OutSize, pixels = s.Batch * outArea, kk2 = s.Kernel * s.Kernel, depth = s.InChannels * kk2;
        int tiles = TileGroups(s.OutChannels, depth), columnTiles = Ceiling(depth, TileColumns);
        int split = Grid.IdxX / tiles, tileIndex = Grid.IdxX - split * tiles;
        int k0 = tileIndex % columnTiles * TileColumns, co0 = tileIndex / columnTiles * TileRows;
        int begin = split * chunk, end = begin + chunk < pixels ? begin + chunk : pixels;

        // Each thread loads one pixel per step (pp) for two gradient rows and four weight columns: decoded once here.
        int pp = t % TileDepth, lane = t / TileDepth; // lane 0..15
        int column0 = k0 + lane, column1 = column0 + 16, column2 = column0 + 32, column3 = column0 + 48;

        var block = default(Block4x4);
        for (int p0 = begin; p0 < end; p0 += TileDepth)
        {
            int p = p0 + pp;
            bool valid = p < end;
            int n = p / outArea, pr = p - n * outArea, oy = pr / s.OutSize, ox = pr - oy * s.OutSize;
            int gradientAt = (n * s.OutStride + s.OutOffset) * outArea + pr;
            int co = co0 + lane;
            gradientTile[pp * TileRows + lane] = valid && co < s.OutChannels ? dOut[gradientAt + co * outArea] : 0f;
            gradientTile[pp * TileRows + lane + 16] = valid && co + 16 < s.OutChannels ? dOut[gradientAt + (co + 16) * outArea] : 0f;
            int imageBase = n * s.InStride * s.InSize * s.InSize, y0 = oy * s.Stride - s.Padding, x0 = ox * s.Stride - s.Padding;
            inputTile[pp * TileColumns + lane] = valid && column0 < depth ? LoadInput(s, input, prologue, imageBase, y0, x0, column0) : 0f;
            inputTile[pp * TileColumns + lane + 16] = valid && column1 < depth ? LoadInput(s, input, prologue, imageBase, y0, x0, column1) : 0f;
            inputTile[pp * TileColumns + lane + 32] = valid && column2 < depth ? LoadInput(s, input, prologue, imageBase, y0, x0, column2) : 0f;
            inputTile[pp * TileColumns + lane + 48] = valid && column3 < depth ? LoadInput(s, input, prologue, imageBase, y0, x0, column3) : 0f;
            Group.Barrier();
            for (int kk = 0; kk < TileDepth; kk++) block.Step(gradientTile, kk * TileRows + ty, inputTile, kk * TileColumns + tx);
            Group.Barrier();
        }

        int weights = s.OutChannels * depth, splitBase = split * weights;
        for (int i = 0; i < 4; i++)
        {
            int co = co0 + ty + 8 * i;
            if (co >= s.OutChannels) continue;
            block.Row(i, out float c0, out float c1, out float c2, out float c3);
            int at = splitBase + co * depth + k0 + tx;
            if (k0 + tx < depth) partials[at] = c0;
            if (k0 + tx + 16 < depth) partials[at + 16] = c1;
            if (k0 + tx + 32 < depth) partials[at + 32] = c2;
            if (k0 + tx + 48 < depth) partials[at + 48] = c3;
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
