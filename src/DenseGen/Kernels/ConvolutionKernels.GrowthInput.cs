using ILGPU;

namespace DenseGen.Kernels;

/// <summary>
/// Input gradient of a growth conv through the shared-statistics BN-ReLU before it (3x3, stride 1, padding 1, at most
/// 32 outputs), version 4's direct kernel: the forward growth kernel run backwards. dA[ci] at a pixel is a 3x3
/// correlation of dY (the conv's 12 or 32 output channels) with the flipped kernel, so a group takes the growth
/// forward's row tile of one image and 16 input channels, stages dY rows (with their zero border) and the weights
/// W[co][ci][8 - tap] per 8 output channels, and each thread (one pixel) adds per (co, tap) one dY value times 16
/// weights: 16 multiply-adds for 5 shared loads, where the 3-band GEMM it replaces gathers every dY element nine
/// times (4.7 SASS instructions per FFMA in its loop). The epilogue is the banded kernels' through-BN one per element
/// (ReLU mask, gamma, the accumulator of the block's gradient, <see cref="AccumulateBatchNorm"/>), and the per-channel
/// sums go through a tree over the group into partials[(tile * InChannels + ci) * 2] for
/// <see cref="FinishChannelsFromTiles"/> (tile = image row tile). Launch <see cref="GrowthInputGroups"/> groups of
/// <see cref="TileThreads"/> threads; used where <see cref="GrowthKernelApplies"/>.
/// </summary>
internal static partial class ConvolutionKernels
{
    /// <summary>Input channels (outputs of this product) per group.</summary>
    private const int GrowthInputChannels = 16;

    /// <summary>Row tiles of the input gradient: batch times an image's row tiles (the statistics tiles of the partials).</summary>
    public static int GrowthInputTiles(ConvShape s) => s.Batch * Ceiling(s.InSize, GrowthRows(s.InSize, s.InSize));

    /// <summary>Groups to launch: row tiles x chunks of 16 input channels (chunk fastest).</summary>
    public static int GrowthInputGroups(ConvShape s) => GrowthInputTiles(s) * Ceiling(s.InChannels, GrowthInputChannels);

    /// <summary>The growth conv's input gradient through BN-ReLU, one row tile x 16 input channels per group.</summary>
    public static void BackwardInputThroughBatchNormGrowth(ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> input, Prologue prologue,
        BatchNormBackward bn, ArrayView<double> partials)
    {
        var patch = SharedMemory.Allocate<float>(GrowthChunk * GrowthPatch);
        var (weightTile, weightQuads) = SharedTile(GrowthChunk * 9 * GrowthInputChannels);
        var sums = SharedMemory.Allocate<double>(RowSums);
        int t = Group.IdxX, chunks = Ceiling(s.InChannels, GrowthInputChannels);
        int tile = Grid.IdxX / chunks, ci0 = (Grid.IdxX - tile * chunks) * GrowthInputChannels;
        int width = s.InSize, rows = GrowthRows(width, s.InSize), tilesPerImage = Ceiling(s.InSize, rows);
        int n = tile / tilesPerImage, y0 = (tile - n * tilesPerImage) * rows;
        int patchWidth = width + 2, patchSize = (rows + 2) * patchWidth, area = s.InSize * s.InSize;
        int r = t / width, x = t - r * width;
        bool active = r < rows && y0 + r < s.InSize;
        int p0 = t, p1 = t + TileThreads;
        int row0 = p0 / patchWidth, col0 = p0 - row0 * patchWidth, row1 = p1 / patchWidth, col1 = p1 - row1 * patchWidth;
        // dY staged as the forward stages its input: the conv's outputs are this product's input channels, no prologue.
        var gradient = s with { InChannels = s.OutChannels };
        int gradientBase = (n * s.OutStride + s.OutOffset) * area;

        var sum = default(Outputs16);
        for (int c0 = 0; c0 < s.OutChannels; c0 += GrowthChunk)
        {
            for (int c = 0; c < GrowthChunk; c++)
            {
                StageGrowthInput(gradient, dOut, default, patch, c * GrowthPatch, c0 + c, gradientBase, y0, p0, row0, col0, patchSize);
                StageGrowthInput(gradient, dOut, default, patch, c * GrowthPatch, c0 + c, gradientBase, y0, p1, row1, col1, patchSize);
            }
            // Weights [co][tap][ci], ci fastest, the kernel flipped (tap 8 - k): the forward's loop reads patch tap k.
            for (int e = t; e < GrowthChunk * 9 * GrowthInputChannels; e += TileThreads)
            {
                int j = IndexMath.Remainder(e, GrowthInputChannels), ct = e / GrowthInputChannels, c = IndexMath.Quotient(ct, 9), tap = ct - 9 * c;
                int co = c0 + c, ci = ci0 + j;
                weightTile[e] = co < s.OutChannels && ci < s.InChannels ? weight[(co * s.InChannels + ci) * 9 + 8 - tap] : 0f;
            }
            Group.Barrier();
            if (active) GrowthChunkProduct(ref sum, patch, weightQuads, r * patchWidth + x, patchWidth, System.Math.Min(GrowthChunk, s.OutChannels - c0));
            Group.Barrier();
        }

        // Through BN-ReLU per element, then the channel sums four channels at a time through a tree over the group.
        int pixels = s.Batch * area, q = active ? n * area + (y0 + r) * width + x : pixels;
        for (int j0 = 0; j0 < GrowthInputChannels; j0 += 4)
        {
            for (int i = 0; i < 4; i++)
            {
                int ci = ci0 + j0 + i;
                double sumA = 0, sumAX = 0;
                if (ci < s.InChannels)
                    AccumulateBatchNorm(s, input, bn, ci, q, pixels, area, sum.Get(j0 + i), bn.Gamma[ci], bn.Mean[ci], bn.InvStd[ci],
                        prologue.Scale[ci], prologue.Shift[ci], ref sumA, ref sumAX);
                sums[2 * i * TileThreads + t] = sumA;
                sums[(2 * i + 1) * TileThreads + t] = sumAX;
            }
            Group.Barrier();
            for (int stride = TileThreads / 2; stride > 0; stride /= 2)
            {
                if (t < stride)
                    for (int k = 0; k < 8; k++) sums[k * TileThreads + t] += sums[k * TileThreads + t + stride];
                Group.Barrier();
            }
            if (t < 4 && ci0 + j0 + t < s.InChannels)
            {
                partials[(tile * s.InChannels + ci0 + j0 + t) * 2] = sums[2 * t * TileThreads];
                partials[(tile * s.InChannels + ci0 + j0 + t) * 2 + 1] = sums[(2 * t + 1) * TileThreads];
            }
            Group.Barrier();
        }
    }
}
