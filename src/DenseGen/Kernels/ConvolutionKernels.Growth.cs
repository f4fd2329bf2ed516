using ILGPU;

namespace DenseGen.Kernels;

/// <summary>
/// BN-ReLU-Conv3x3 forward for a growth conv (at most 32 output channels, stride 1, padding 1), version 4's kernel for
/// the products its banded GEMM serves worst: an implicit GEMM of 12 or 32 rows gathers every input element nine
/// times (once per tap) and feeds each gathered element only 16 or 32 multiply-adds, so its loop spends more
/// instructions on the gathers than on the product (ptx_loop.py: 8.2 PTX instructions per multiply-add for version
/// 3's 16-row tile, a quarter of BC-100's rows padding).
/// Here a group takes TR whole output rows of one image (TR W &lt;= 128 pixels, one per thread) and, per chunk of 8
/// input channels, stages the BN-ReLU'd input rows they need (TR + 2 rows of W + 2, zero borders) and the chunk's
/// weights ([channel][tap][16 or 32 outputs]) in shared memory once; each thread then adds, per channel and tap, one
/// input value times 16 (32) weights read as four (eight) 16-byte quads: 16 (32) multiply-adds for 5 (9) shared loads,
/// no gather arithmetic.
/// Each input element is read from global memory (TR + 2) / TR times per chunk instead of nine.
/// Writes the output and, with withStatistics = 1, the tile's per-channel sums and sums of squares (float64) into
/// statistics[(tile * OutChannels + co) * 2] for <see cref="FinishStatisticsFromTiles"/>. Launch
/// <see cref="GrowthGroups"/> groups of <see cref="TileThreads"/> threads (<see cref="GrowthRows"/> gives TR); used
/// where <see cref="GrowthKernelFits"/>. Sums each output in channel, then tap order (float32), as the direct version 1.
/// </summary>
internal static partial class ConvolutionKernels
{
    /// <summary>Input channels staged per shared-memory step; the most outputs a thread holds (DenseNet-121's k = 32).</summary>
    private const int GrowthChunk = 8, GrowthMaxOutputs = 32;

    /// <summary>Largest staged patch of one channel, (TR + 2) (W + 2): two staging positions per thread (204 for 32x32 images).</summary>
    private const int GrowthPatch = 2 * TileThreads;

    /// <summary>Output rows per group: as many whole rows of width <paramref name="width"/> as fit 128 threads, at most the image.</summary>
    public static int GrowthRows(int width, int height) => System.Math.Min(height, TileThreads / width);

    /// <summary>
    /// Whether the growth kernel can take a conv: a 3x3, stride 1, padding 1 conv of at most 16 outputs on images at
    /// least 8 wide whose patch fits shared memory (up to 56 wide).
    /// </summary>
    public static bool GrowthKernelApplies(ConvShape s) =>
        s.Kernel == 3 && s.Stride == 1 && s.Padding == 1 && s.OutChannels <= GrowthMaxOutputs && s.InSize >= 8 && s.InSize <= TileThreads
        && (GrowthRows(s.InSize, s.InSize) + 2) * (s.InSize + 2) <= GrowthPatch;

    /// <summary>Groups of the growth kernel for a conv: batch times the row tiles of an image.</summary>
    public static int GrowthGroups(ConvShape s) => s.Batch * Ceiling(s.OutSize, GrowthRows(s.InSize, s.InSize));

    /// <summary>
    /// Whether version 4 gives a conv the growth kernel: it applies, and it has at least 256 groups (smaller grids leave a
    /// large GPU idle; the banded GEMM splits those along the reduction instead): BC-100's first dense block, DenseNet-121's
    /// first two.
    /// </summary>
    public static bool GrowthKernelFits(ConvShape s) => GrowthKernelApplies(s) && GrowthGroups(s) >= 256;

    /// <summary>A thread's output channels of one pixel in registers: 16 (BC-100's k = 12) or 32 (DenseNet-121's k = 32).</summary>
    private interface IGrowthOutputs
    {
        int Count { get; }

        /// <summary>Adds v times the Count weights at quads[quad ..] (four outputs per quad).</summary>
        void Add(float v, ArrayView<Float4> quads, int quad);

        float Get(int co);
    }

    private struct Outputs16 : IGrowthOutputs
    {
        public Block4x4 Values; // A0j: outputs 0-3, A1j: 4-7, A2j: 8-11, A3j: 12-15

        /// <summary>Adds v times the 16 weights w0..w3 (outputs 4q .. 4q + 3 in quad q).</summary>
        public void Add(float v, Float4 w0, Float4 w1, Float4 w2, Float4 w3)
        {
            Values.A00 += w0.X * v; Values.A01 += w0.Y * v; Values.A02 += w0.Z * v; Values.A03 += w0.W * v;
            Values.A10 += w1.X * v; Values.A11 += w1.Y * v; Values.A12 += w1.Z * v; Values.A13 += w1.W * v;
            Values.A20 += w2.X * v; Values.A21 += w2.Y * v; Values.A22 += w2.Z * v; Values.A23 += w2.W * v;
            Values.A30 += w3.X * v; Values.A31 += w3.Y * v; Values.A32 += w3.Z * v; Values.A33 += w3.W * v;
        }

        public readonly int Count => 16;

        public void Add(float v, ArrayView<Float4> quads, int quad) => Add(v, quads[quad], quads[quad + 1], quads[quad + 2], quads[quad + 3]);

        /// <summary>Output channel co (0..15).</summary>
        public readonly float Get(int co)
        {
            Values.Row(co / 4, out float c0, out float c1, out float c2, out float c3);
            int j = IndexMath.Remainder(co, 4);
            return j == 0 ? c0 : j == 1 ? c1 : j == 2 ? c2 : c3;
        }
    }

    private struct Outputs32 : IGrowthOutputs
    {
        public Outputs16 Low, High;

        public readonly int Count => 32;

        public void Add(float v, ArrayView<Float4> quads, int quad)
        {
            Low.Add(v, quads, quad);
            High.Add(v, quads, quad + 4);
        }

        public readonly float Get(int co) => co < 16 ? Low.Get(co) : High.Get(co - 16);
    }

    /// <summary>The growth kernel for at most 16 outputs.</summary>
    public static void ForwardGrowth16(ConvShape s, ArrayView<float> input, ArrayView<float> weight, Prologue prologue, ArrayView<float> output,
        ArrayView<double> statistics, int withStatistics) => ForwardGrowth<Outputs16>(s, input, weight, prologue, output, statistics, withStatistics);

    /// <summary>The growth kernel for 17 to 32 outputs.</summary>
    public static void ForwardGrowth32(ConvShape s, ArrayView<float> input, ArrayView<float> weight, Prologue prologue, ArrayView<float> output,
        ArrayView<double> statistics, int withStatistics) => ForwardGrowth<Outputs32>(s, input, weight, prologue, output, statistics, withStatistics);

    private static void ForwardGrowth<T>(ConvShape s, ArrayView<float> input, ArrayView<float> weight, Prologue prologue, ArrayView<float> output,
        ArrayView<double> statistics, int withStatistics) where T : struct, IGrowthOutputs
    {
        int outputs = default(T).Count;
        var patch = SharedMemory.Allocate<float>(GrowthChunk * GrowthPatch);
        var (weightTile, weightQuads) = SharedTile(GrowthChunk * 9 * GrowthMaxOutputs);
        var sums = SharedMemory.Allocate<double>(RowSums);
        int t = Group.IdxX, width = s.InSize, rows = GrowthRows(width, s.InSize), tilesPerImage = Ceiling(s.OutSize, rows);
        int n = Grid.IdxX / tilesPerImage, oy0 = (Grid.IdxX - n * tilesPerImage) * rows;
        int patchWidth = width + 2, patchSize = (rows + 2) * patchWidth, area = s.InSize * s.InSize;
        // This thread's output pixel (r, x) of the tile, and its staging positions p = t + 128 j of each channel's patch.
        int r = t / width, x = t - r * width;
        bool active = r < rows && oy0 + r < s.OutSize;
        int p0 = t, p1 = t + TileThreads;
        int row0 = p0 / patchWidth, col0 = p0 - row0 * patchWidth, row1 = p1 / patchWidth, col1 = p1 - row1 * patchWidth;
        int imageBase = n * s.InStride * area;

        var sum = default(T);
        for (int c0 = 0; c0 < s.InChannels; c0 += GrowthChunk)
        {
            // Stage the chunk: BN-ReLU'd input rows oy0 - 1 .. oy0 + rows (zero outside the image and past the channels).
            for (int c = 0; c < GrowthChunk; c++)
            {
                StageGrowthInput(s, input, prologue, patch, c * GrowthPatch, c0 + c, imageBase, oy0, p0, row0, col0, patchSize);
                StageGrowthInput(s, input, prologue, patch, c * GrowthPatch, c0 + c, imageBase, oy0, p1, row1, col1, patchSize);
            }
            // Weights [c][tap][co], co fastest, zero past the outputs and channels.
            for (int e = t; e < GrowthChunk * 9 * outputs; e += TileThreads)
            {
                int co = IndexMath.Remainder(e, outputs), ct = e / outputs, c = IndexMath.Quotient(ct, 9), tap = ct - 9 * c;
                weightTile[e] = co < s.OutChannels && c0 + c < s.InChannels ? weight[(co * s.InChannels + c0 + c) * 9 + tap] : 0f;
            }
            Group.Barrier();
            // Every chunk as a full one (zero weights past the channels): a constant trip count, as before this loop was
            // shared (with the runtime bound the input gradient needs, this forward measured 1.1-1.35x slower on PoCL).
            if (active) GrowthChunkProduct(ref sum, patch, weightQuads, r * patchWidth + x, patchWidth, GrowthChunk);
            Group.Barrier();
        }

        // Outputs, then the statistics of the tile's pixels, four channels at a time through a tree over the group.
        int outArea = s.OutSize * s.OutSize, pixel = (oy0 + r) * s.OutSize + x;
        if (active)
            for (int co = 0; co < s.OutChannels; co++)
                output[(n * s.OutStride + s.OutOffset + co) * outArea + pixel] = sum.Get(co);
        if (withStatistics == 0) return; // uniform over the group
        for (int co0 = 0; co0 < s.OutChannels; co0 += 4)
        {
            for (int i = 0; i < 4; i++)
            {
                double v = active && co0 + i < s.OutChannels ? sum.Get(co0 + i) : 0.0;
                sums[2 * i * TileThreads + t] = v;
                sums[(2 * i + 1) * TileThreads + t] = v * v;
            }
            Group.Barrier();
            for (int stride = TileThreads / 2; stride > 0; stride /= 2)
            {
                if (t < stride)
                    for (int k = 0; k < 8; k++) sums[k * TileThreads + t] += sums[k * TileThreads + t + stride];
                Group.Barrier();
            }
            if (t < 4 && co0 + t < s.OutChannels)
            {
                statistics[(Grid.IdxX * s.OutChannels + co0 + t) * 2] = sums[2 * t * TileThreads];
                statistics[(Grid.IdxX * s.OutChannels + co0 + t) * 2 + 1] = sums[(2 * t + 1) * TileThreads];
            }
            Group.Barrier();
        }
    }

    /// <summary>
    /// A staged chunk's product for the pixel at <paramref name="at"/> of each channel's patch: per channel and tap, the
    /// patch value times the chunk's weights of that (channel, tap), [c][tap][output] in 16-byte quads, for the chunk's
    /// first <paramref name="channels"/> channels (the input gradient skips a partial chunk's zero weights: BC-100's 12
    /// outputs are 8 + 4 there).
    /// </summary>
    private static void GrowthChunkProduct<T>(ref T sum, ArrayView<float> patch, ArrayView<Float4> weightQuads, int at, int patchWidth, int channels)
        where T : struct, IGrowthOutputs
    {
        int quadsPerTap = default(T).Count / 4;
        for (int c = 0; c < channels; c++)
        {
            int p = c * GrowthPatch + at, quads = c * 9 * quadsPerTap;
            for (int ky = 0; ky < 3; ky++)
            {
                sum.Add(patch[p + ky * patchWidth], weightQuads, quads + ky * 3 * quadsPerTap);
                sum.Add(patch[p + ky * patchWidth + 1], weightQuads, quads + (ky * 3 + 1) * quadsPerTap);
                sum.Add(patch[p + ky * patchWidth + 2], weightQuads, quads + (ky * 3 + 2) * quadsPerTap);
            }
        }
    }

    /// <summary>One patch position p (row, col of the staged rows) of channel c: relu(bn(x)), or 0 outside the image or channels.</summary>
    private static void StageGrowthInput(ConvShape s, ArrayView<float> input, Prologue prologue, ArrayView<float> patch, int channelBase, int c, int imageBase,
        int oy0, int p, int row, int col, int patchSize)
    {
        if (p >= patchSize) return;
        int iy = oy0 - 1 + row, ix = col - 1;
        float v = 0f;
        if (c < s.InChannels && (uint)iy < (uint)s.InSize && (uint)ix < (uint)s.InSize)
        {
            v = input[imageBase + (c * s.InSize + iy) * s.InSize + ix];
            if (prologue.Enabled != 0)
            {
                v = v * prologue.Scale[c] + prologue.Shift[c];
                v = v > 0f ? v : 0f;
            }
        }
        patch[channelBase + p] = v;
    }
}
