using ILGPU;

namespace DenseGen.Kernels;

/// <summary>
/// Weight gradient of a growth conv (3x3, stride 1, padding 1, at most 32 outputs), version 4's kernel for the
/// product its banded GEMM serves worst: dW[co, ci, tap] (12 x 432 for BC-100) reduced over 65,536 pixels. As an
/// implicit GEMM its 12 rows fill three quarters of a 16-row tile and every gathered input element feeds few
/// multiply-adds: 5.5 SASS instructions per FFMA in its loop (benchmarks/sass_report.py), 12.5 % of a BC-100 step on
/// an H200.
/// Here a group owns 16 output channels x 16 input channels x 9 taps and walks a range of row tiles (the growth
/// forward's tiles: whole rows of one image, at most 128 pixels). Per tile it stages the BN-ReLU'd input rows with
/// their zero border (as <see cref="ForwardGrowth{T}"/>) and the output gradient of the tile's pixels, [pixel][16
/// outputs]. Thread (c, half, ky) holds 3 taps x 8 outputs: per pixel it reads two 16-byte quads of dY (the same for
/// the whole warp) and one new input value (the previous two slide along the row), 24 multiply-adds for 3 shared loads,
/// no gather arithmetic. A warp is one ky and 16 channels, 257 floats apart: 16 banks, no conflicts.
/// Each split writes its group's weights into partials[split * weights + w] (float32 sums over its pixels, in pixel
/// order); <see cref="SumSplitsByLanes"/> adds the splits. Launch <see cref="GrowthWeightGroups"/> groups of
/// <see cref="GrowthWeightThreads"/> threads with <see cref="GrowthWeightTilesPerSplit"/>.
/// </summary>
internal static partial class ConvolutionKernels
{
    /// <summary>Input and output channels per group.</summary>
    private const int GrowthWeightChannels = 16, GrowthWeightOutputs = 16;

    /// <summary>Threads per group: (input channel, half of the outputs, ky), 3 warps.</summary>
    public const int GrowthWeightThreads = GrowthWeightChannels * 2 * 3;

    /// <summary>Shared floats per staged channel: a patch (at most <see cref="GrowthPatch"/>) plus one, so channels fall in different banks.</summary>
    private const int GrowthWeightChannelStride = GrowthPatch + 1;

    /// <summary>Groups a split needs: output-channel blocks x input-channel chunks.</summary>
    private static int GrowthWeightBlocks(ConvShape s) => Ceiling(s.OutChannels, GrowthWeightOutputs) * Ceiling(s.InChannels, GrowthWeightChannels);

    private static int GrowthWeightTiles(ConvShape s) => s.Batch * Ceiling(s.OutSize, GrowthRows(s.InSize, s.InSize));

    /// <summary>Row tiles per split: about <paramref name="groups"/> groups in all (512 fill a large GPU), at least one tile each.</summary>
    public static int GrowthWeightTilesPerSplit(ConvShape s, int groups = 512)
    {
        int tiles = GrowthWeightTiles(s);
        int splits = System.Math.Clamp(Ceiling(groups, GrowthWeightBlocks(s)), 1, tiles);
        return Ceiling(tiles, splits);
    }

    /// <summary>Splits of the reduction: the partial sums <see cref="SumSplitsByLanes"/> adds.</summary>
    public static int GrowthWeightSplits(ConvShape s, int tilesPerSplit) => Ceiling(GrowthWeightTiles(s), tilesPerSplit);

    /// <summary>Groups to launch: splits x output blocks x input chunks.</summary>
    public static int GrowthWeightGroups(ConvShape s, int tilesPerSplit) => GrowthWeightSplits(s, tilesPerSplit) * GrowthWeightBlocks(s);

    /// <summary>A thread's 3 taps (kx) x 8 outputs, in registers.</summary>
    private struct GrowthWeightTaps
    {
        public float K00, K01, K02, K03, K04, K05, K06, K07;
        public float K10, K11, K12, K13, K14, K15, K16, K17;
        public float K20, K21, K22, K23, K24, K25, K26, K27;

        /// <summary>Adds dY (8 outputs: low, high) times the inputs at kx = 0, 1, 2.</summary>
        public void Add(Float4 low, Float4 high, float a0, float a1, float a2)
        {
            K00 += low.X * a0; K01 += low.Y * a0; K02 += low.Z * a0; K03 += low.W * a0;
            K04 += high.X * a0; K05 += high.Y * a0; K06 += high.Z * a0; K07 += high.W * a0;
            K10 += low.X * a1; K11 += low.Y * a1; K12 += low.Z * a1; K13 += low.W * a1;
            K14 += high.X * a1; K15 += high.Y * a1; K16 += high.Z * a1; K17 += high.W * a1;
            K20 += low.X * a2; K21 += low.Y * a2; K22 += low.Z * a2; K23 += low.W * a2;
            K24 += high.X * a2; K25 += high.Y * a2; K26 += high.Z * a2; K27 += high.W * a2;
        }

        /// <summary>The three taps of output j (0..7).</summary>
        public readonly void Output(int j, out float k0, out float k1, out float k2)
        {
            k0 = j == 0 ? K00 : j == 1 ? K01 : j == 2 ? K02 : j == 3 ? K03 : j == 4 ? K04 : j == 5 ? K05 : j == 6 ? K06 : K07;
            k1 = j == 0 ? K10 : j == 1 ? K11 : j == 2 ? K12 : j == 3 ? K13 : j == 4 ? K14 : j == 5 ? K15 : j == 6 ? K16 : K17;
            k2 = j == 0 ? K20 : j == 1 ? K21 : j == 2 ? K22 : j == 3 ? K23 : j == 4 ? K24 : j == 5 ? K25 : j == 6 ? K26 : K27;
        }
    }

    /// <summary>The growth conv's weight gradient, one split of one (output block, input chunk) per group.</summary>
    public static void BackwardWeightsGrowth(ConvShape s, ArrayView<float> input, Prologue prologue, ArrayView<float> dOut, ArrayView<float> partials,
        int tilesPerSplit)
    {
        var patch = SharedMemory.Allocate<float>(GrowthWeightChannels * GrowthWeightChannelStride);
        var (gradientTile, gradientQuads) = SharedTile(GrowthWeightOutputs * TileThreads);
        int t = Group.IdxX, c = t % GrowthWeightChannels, half = t / GrowthWeightChannels % 2, ky = t / (2 * GrowthWeightChannels);
        int splits = GrowthWeightSplits(s, tilesPerSplit), chunks = Ceiling(s.InChannels, GrowthWeightChannels);
        int split = Grid.IdxX % splits, block = Grid.IdxX / splits;
        int c0 = block % chunks * GrowthWeightChannels, co0 = block / chunks * GrowthWeightOutputs;
        int width = s.InSize, rows = GrowthRows(width, s.InSize), tilesPerImage = Ceiling(s.OutSize, rows);
        int patchWidth = width + 2, patchSize = (rows + 2) * patchWidth, area = s.InSize * s.InSize;
        int firstTile = split * tilesPerSplit, endTile = System.Math.Min(firstTile + tilesPerSplit, s.Batch * tilesPerImage);

        var sum = default(GrowthWeightTaps);
        for (int tile = firstTile; tile < endTile; tile++)
        {
            int n = tile / tilesPerImage, oy0 = (tile - n * tilesPerImage) * rows;
            int tileRows = System.Math.Min(rows, s.OutSize - oy0), pixels = tileRows * width;
            // BN-ReLU'd input rows oy0 - 1 .. oy0 + rows of the chunk's channels, zero outside the image and channels.
            for (int e = t; e < GrowthWeightChannels * patchSize; e += GrowthWeightThreads)
            {
                int cc = e / patchSize, p = e - cc * patchSize, row = p / patchWidth, col = p - row * patchWidth;
                int channel = c0 + cc, iy = oy0 - 1 + row, ix = col - 1;
                float v = 0f;
                if (channel < s.InChannels && (uint)iy < (uint)s.InSize && (uint)ix < (uint)s.InSize)
                {
                    v = input[(n * s.InStride + channel) * area + iy * s.InSize + ix];
                    if (prologue.Enabled != 0)
                    {
                        v = v * prologue.Scale[channel] + prologue.Shift[channel];
                        v = v > 0f ? v : 0f;
                    }
                }
                patch[cc * GrowthWeightChannelStride + p] = v;
            }
            // dY of the tile's pixels, read along pixels (coalesced), stored [pixel][output]; zero past the outputs.
            for (int e = t; e < GrowthWeightOutputs * pixels; e += GrowthWeightThreads)
            {
                int o = e / pixels, p = e - o * pixels, co = co0 + o;
                gradientTile[p * GrowthWeightOutputs + o] = co < s.OutChannels
                    ? dOut[(n * s.OutStride + s.OutOffset + co) * area + oy0 * width + p]
                    : 0f;
            }
            Group.Barrier();
            int at = c * GrowthWeightChannelStride + ky * patchWidth, quad = half * 2;
            for (int r = 0; r < tileRows; r++)
            {
                float a0 = patch[at], a1 = patch[at + 1];
                for (int x = 0; x < width; x++)
                {
                    float a2 = patch[at + x + 2];
                    sum.Add(gradientQuads[quad], gradientQuads[quad + 1], a0, a1, a2);
                    a0 = a1;
                    a1 = a2;
                    quad += GrowthWeightOutputs / 4;
                }
                at += patchWidth;
            }
            Group.Barrier();
        }

        int channelIn = c0 + c, weights = s.WeightElements;
        if (channelIn >= s.InChannels) return;
        for (int j = 0; j < 8; j++)
        {
            int co = co0 + half * 8 + j;
            if (co >= s.OutChannels) break;
            sum.Output(j, out float k0, out float k1, out float k2);
            int w = split * weights + (co * s.InChannels + channelIn) * 9 + ky * 3;
            partials[w] = k0;
            partials[w + 1] = k1;
            partials[w + 2] = k2;
        }
    }
}
