using ILGPU;
using ILGPU.Runtime.Cuda;

namespace DenseGen.Kernels;

/// <summary>
/// BN-ReLU-Conv, version 5: version 4's banded products (<c>ConvolutionKernels.Banded.cs</c>: the forward, the input
/// gradient through BN, the weight gradient; 2, 3 and 4 bands) with their multiply-adds on the tensor cores, in float32
/// accuracy by the 3xTF32 split (CUTLASS's "fast accurate" float32 GEMM).
/// Why: version 4's 4-band forward ran at 9-13 TFLOP/s on the H200, 15-19 % of its 67 TFLOP/s of float32 FFMA, issue-bound
/// (benchmarks/RESULTS.md, run 2); its 4-band products are about 58 % of DenseNet-121's step, the 3-band ones (48-channel
/// bottlenecks) about 32 % of DenseNet-BC-100's. An m16n8k8 TF32 mma does 1,024 multiply-adds in one warp instruction,
/// where FFMA does 32.
/// What it keeps: the tile (16 m rows x 128 columns for m bands, 128 threads), version 4's loads, gathers, BN-ReLU prologue,
/// double-buffered shared tiles and splits (<c>ForwardProduct</c>, <c>InputGradientProduct</c>, <c>WeightsProduct</c>,
/// generic over the register block), and the epilogues (stores, statistics and BN-backward partials, split partials)
/// unchanged: after the reduction each band of 16 rows goes through shared memory into version 4's 4 x 4 thread blocks,
/// so everything after the product is the code the FFMA kernels run.
/// What changes: warp w multiplies all 16 m rows by columns 32 w .. 32 w + 31: m x 4 m16n8k8 tiles, 16 m float32
/// accumulators per thread as before. Each reduction step of 8 loads the warp's fragments from the shared tiles and
/// splits every value x into hi = tf32(x) and lo = tf32(x - hi) (truncated, 11 significant bits each); the product adds
/// lo*hi + hi*lo + hi*hi (3 mma per tile), dropping what is below about 2^-20 relative, so the result is float32-accurate
/// and checked against the float64 reference at the float32 kernels' tolerance. Sums run in a different order than
/// version 4's FFMA chains (the tensor core adds 8 products at a time).
/// Where it runs: CUDA (inline PTX: <c>mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32</c>,
/// sm_80 and later). Elsewhere the same fragments go through an emulation of the instruction that follows PTX's fragment
/// layout (a warp exchanges its registers through shared memory and each lane computes its four outputs), so ILGPU's
/// CPU accelerator (32-lane warps) checks the layout and the split in the tests; OpenCL does not run it.
/// Shared tiles: version 4's [8][16 m] and [8][128] layouts with each row padded by 8 floats, so that a fragment load's
/// 32 lanes (8 rows x 4 reduction indices) hit 32 banks, where unpadded they were 4-way conflicts.
/// Not yet: splitting each value once where it is stored (the 4 warps split the same weights).
/// </summary>
internal static partial class ConvolutionKernels
{
    /// <summary>
    /// Floats added to each row of the shared tiles (<see cref="IRegisterBlock.TilePad"/>). A fragment load's 32 lanes read
    /// rows k = 0..3 at 8 consecutive floats each: with rows of 16 m + 8 floats (40, 56, 72 for m = 2, 3, 4 bands) and of
    /// 136 they start 8, 24, 8 and 8 banks apart, so the 32 lanes hit 32 banks.
    /// </summary>
    private const int TensorPad = 8;

    /// <summary>Floats of a band's row in the exchange after the product: 128 + 4, so rows stay 16-byte aligned.</summary>
    private const int ExchangeStride = BandColumns + 4;

    /// <summary>
    /// One m16n8k8 accumulator fragment of a lane (g = lane / 4, t = lane % 4): C0 at row g, column 2 t; C1 at g, 2 t + 1;
    /// C2 at g + 8, 2 t; C3 at g + 8, 2 t + 1 (PTX ISA, "Matrix Fragments for mma.m16n8k8").
    /// </summary>
    private struct MmaFragment
    {
        public float C0, C1, C2, C3;
    }

    /// <summary>A warp's four 16 x 8 tiles side by side: rows 16 i .. of the tile, columns 32 w + 8 j (j = 0..3).</summary>
    private struct MmaRow
    {
        public MmaFragment N0, N1, N2, N3;
    }

    /// <summary>A lane's B fragments of the warp's four column tiles, split: b0 (k = t) and b1 (k = t + 4) of column tile j.</summary>
    private struct MmaColumns
    {
        public uint Hi00, Hi01, Hi10, Hi11, Hi20, Hi21, Hi30, Hi31;
        public uint Lo00, Lo01, Lo10, Lo11, Lo20, Lo21, Lo30, Lo31;
    }

    /// <summary>
    /// The 16 m x 128 tile of version 4's m bands (m = <typeparamref name="TBands"/>' count: 2, 3 or 4) as tensor-core
    /// fragments: warp w holds all rows x columns 32 w .. 32 w + 31, one <see cref="MmaRow"/> per band (M2 and M3 unused
    /// below 3 and 4 bands: constant tests fold them away). Its 8-step reduction reads version 4's shared tiles with each row
    /// padded by 8 floats: weights [8][16 m + 8] (row r at k * (16 m + 8) + r), pixels [8][136].
    /// </summary>
    private struct TensorTile<TBands> : IRegisterBlock where TBands : struct, IBands
    {
        public MmaRow M0, M1, M2, M3;

        /// <summary>
        /// Shared memory of the tile's own: where <see cref="Band"/> rearranges a band after the product, and where a warp
        /// exchanges its fragments when the mma is emulated (ILGPU allocates shared memory whatever the branch, so one
        /// allocation serves both).
        /// </summary>
        private ArrayView<float> _exchange;

        /// <summary>Rows of 16 m + 8 and 136 floats: a fragment load's 32 lanes (8 rows of 4 k) fall in 32 banks (4-way conflicts unpadded).</summary>
        public readonly int TilePad => TensorPad;

        public void Begin()
        {
            _exchange = SharedMemory.Allocate<Float4>(ExchangeFloats / 4).Cast<float>();
        }

        public void Steps8(ArrayView<Float4> left, ArrayView<Float4> right, TileGeometry g)
        {
            var weights = left.Cast<float>();
            var pixels = right.Cast<float>();
            int lane = Group.IdxX & 31, warp = Group.IdxX >> 5, row = lane >> 2, k = lane & 3;

            // B fragments (pixels): b0 = B[k][n], b1 = B[k + 4][n] for n = 32 w + 8 j + row. Views offset once, then
            // constant indices: ptxas folds them into the shared loads' immediate offsets.
            var b = default(MmaColumns);
            const int pixelRow = BandColumns + TensorPad, k4 = 4 * pixelRow;
            var p = pixels.SubView(k * pixelRow + 32 * warp + row);
            Split(p[0], out b.Hi00, out b.Lo00);
            Split(p[k4], out b.Hi01, out b.Lo01);
            Split(p[8], out b.Hi10, out b.Lo10);
            Split(p[8 + k4], out b.Hi11, out b.Lo11);
            Split(p[16], out b.Hi20, out b.Lo20);
            Split(p[16 + k4], out b.Hi21, out b.Lo21);
            Split(p[24], out b.Hi30, out b.Lo30);
            Split(p[24 + k4], out b.Hi31, out b.Lo31);

            // A fragments (weights) of row tile i: a0 = A[16 i + row][k], a1 = 8 rows below, a2 = a0 at k + 4, a3 = both.
            int bands = default(TBands).Count, weightRow = BandRows * bands + TensorPad;
            var a = weights.SubView(k * weightRow + row);
            if (!CudaAsm.IsSupported) RecordColumns(b, _exchange);
            RowTile(ref M0, a, 0, weightRow, b, _exchange);
            RowTile(ref M1, a, 16, weightRow, b, _exchange);
            if (bands > 2) RowTile(ref M2, a, 32, weightRow, b, _exchange);
            if (bands > 3) RowTile(ref M3, a, 48, weightRow, b, _exchange);
        }

        /// <summary>Row tile r of this warp: its A fragment from <paramref name="at"/> (rows of <paramref name="weightRow"/> floats), times the four column tiles.</summary>
        private static void RowTile(ref MmaRow r, ArrayView<float> weights, int at, int weightRow, MmaColumns b, ArrayView<float> exchange)
        {
            Split(weights[at], out uint h0, out uint l0);
            Split(weights[at + 8], out uint h1, out uint l1);
            Split(weights[at + 4 * weightRow], out uint h2, out uint l2);
            Split(weights[at + 4 * weightRow + 8], out uint h3, out uint l3);
            if (!CudaAsm.IsSupported)
            {
                EmulatedRowTile(ref r, h0, h1, h2, h3, l0, l1, l2, l3, exchange, (at / BandRows) & 1);
                return;
            }
            Mma3(ref r.N0, h0, h1, h2, h3, l0, l1, l2, l3, b.Hi00, b.Hi01, b.Lo00, b.Lo01);
            Mma3(ref r.N1, h0, h1, h2, h3, l0, l1, l2, l3, b.Hi10, b.Hi11, b.Lo10, b.Lo11);
            Mma3(ref r.N2, h0, h1, h2, h3, l0, l1, l2, l3, b.Hi20, b.Hi21, b.Lo20, b.Lo21);
            Mma3(ref r.N3, h0, h1, h2, h3, l0, l1, l2, l3, b.Hi30, b.Hi31, b.Lo30, b.Lo31);
        }

        /// <summary>
        /// Band i (rows 16 i .. 16 i + 15) as version 4's 4 x 4 thread block of <paramref name="band"/>'s geometry, through
        /// the tile's exchange (16 x <see cref="ExchangeStride"/> floats). Every thread of the group must call it.
        /// </summary>
        public readonly Block4x4 Band(int i, TileGeometry band)
        {
            var exchange = _exchange;
            var r = i == 0 ? M0 : i == 1 ? M1 : i == 2 ? M2 : M3;
            int lane = Group.IdxX & 31, warp = Group.IdxX >> 5, row = lane >> 2, column = 32 * warp + 2 * (lane & 3);
            Group.Barrier(); // the exchange's last readers (the previous band) are done
            Place(exchange, row * ExchangeStride + column, r.N0);
            Place(exchange, row * ExchangeStride + column + 8, r.N1);
            Place(exchange, row * ExchangeStride + column + 16, r.N2);
            Place(exchange, row * ExchangeStride + column + 24, r.N3);
            Group.Barrier();
            var quads = exchange.Cast<Float4>();
            int first = (band.Row * ExchangeStride + band.Column) / 4, rowQuads = ExchangeStride / 4;
            Float4 q0 = quads[first], q1 = quads[first + rowQuads], q2 = quads[first + 2 * rowQuads], q3 = quads[first + 3 * rowQuads];
            return new Block4x4
            {
                A00 = q0.X, A01 = q0.Y, A02 = q0.Z, A03 = q0.W,
                A10 = q1.X, A11 = q1.Y, A12 = q1.Z, A13 = q1.W,
                A20 = q2.X, A21 = q2.Y, A22 = q2.Z, A23 = q2.W,
                A30 = q3.X, A31 = q3.Y, A32 = q3.Z, A33 = q3.W,
            };
        }

        private static void Place(ArrayView<float> exchange, int at, MmaFragment f)
        {
            exchange[at] = f.C0;
            exchange[at + 1] = f.C1;
            exchange[at + 8 * ExchangeStride] = f.C2;
            exchange[at + 8 * ExchangeStride + 1] = f.C3;
        }
    }

    /// <summary>
    /// x as hi + lo, each a TF32 value (a float32 whose low 13 mantissa bits are zero), by truncation: three instructions
    /// (and, subtract, and); rounding with PTX's cvt.rna.tf32.f32 made the 1x1-quads loop 420 SASS instructions per step
    /// against 365 (sm_90). hi keeps x's top 11
    /// significant bits, lo the next 11 of the remainder, so hi + lo is within 2^-20 of x, relatively.
    /// </summary>
    private static void Split(float x, out uint hi, out uint lo)
    {
        hi = Interop.FloatAsInt(x) & Tf32Mask;
        lo = Interop.FloatAsInt(x - Interop.IntAsFloat(hi)) & Tf32Mask;
    }

    /// <summary>The bits a TF32 value keeps of a float32: sign, exponent and the top 10 of the 23 mantissa bits.</summary>
    private const uint Tf32Mask = 0xFFFFE000u;

    /// <summary>c += A B in float32 accuracy from split operands: lo*hi + hi*lo + hi*hi (the small products first).</summary>
    private static void Mma3(ref MmaFragment c, uint ah0, uint ah1, uint ah2, uint ah3, uint al0, uint al1, uint al2, uint al3,
        uint bh0, uint bh1, uint bl0, uint bl1)
    {
        Mma(ref c, al0, al1, al2, al3, bh0, bh1);
        Mma(ref c, ah0, ah1, ah2, ah3, bl0, bl1);
        Mma(ref c, ah0, ah1, ah2, ah3, bh0, bh1);
    }

    /// <summary>One warp-wide m16n8k8 TF32 multiply-add on the tensor cores, c += A B, with this lane's fragments (CUDA only).</summary>
    private static void Mma(ref MmaFragment c, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1)
    {
        Ref<float> d0 = c.C0, d1 = c.C1, d2 = c.C2, d3 = c.C3;
        Input<uint> x0 = a0, x1 = a1, x2 = a2, x3 = a3, y0 = b0, y1 = b1;
        CudaAsm.EmitRef("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};",
            ref d0, ref d1, ref d2, ref d3, ref x0, ref x1, ref x2, ref x3, ref y0, ref y1);
        c.C0 = d0.Value;
        c.C1 = d1.Value;
        c.C2 = d2.Value;
        c.C3 = d3.Value;
    }

    /// <summary>
    /// Registers a lane exchanges when the mma is emulated (register r of lane L at r * 32 + L of its warp's part): the
    /// four column tiles' B hi (2 each, from 0) and lo (from 8), written once per step, then a row tile's A hi and lo
    /// (4 each) in one of two slots (from 16 and 24), alternating by row tile: row tile i + 2 overwrites row tile i's
    /// slot only after every lane passed row tile i + 1's warp barrier, so one barrier per row tile suffices (the next
    /// step's B and A wait behind the product loop's group barrier). Barriers are what the emulation costs on ILGPU's
    /// CPU accelerator (each is an OS-level rendezvous of 32 threads).
    /// </summary>
    private const int EmulatedRegisters = 32, EmulatedBLo = 8, EmulatedA = 16, EmulatedASlot = 8;

    /// <summary>Floats of a tile's exchange: a band after the product (16 x 132) or, emulated, 32 registers of 128 lanes.</summary>
    private const int ExchangeFloats = EmulatedRegisters * TileThreads;

    /// <summary>Records the step's split B fragments for the emulated mma (before the first row tile's warp barrier).</summary>
    private static void RecordColumns(MmaColumns b, ArrayView<float> x)
    {
        int lane = Group.IdxX & 31;
        var v = x.SubView((Group.IdxX - lane) * EmulatedRegisters + lane);
        v[0] = Interop.IntAsFloat(b.Hi00); v[32] = Interop.IntAsFloat(b.Hi01); v[64] = Interop.IntAsFloat(b.Hi10); v[96] = Interop.IntAsFloat(b.Hi11);
        v[128] = Interop.IntAsFloat(b.Hi20); v[160] = Interop.IntAsFloat(b.Hi21); v[192] = Interop.IntAsFloat(b.Hi30); v[224] = Interop.IntAsFloat(b.Hi31);
        v[256] = Interop.IntAsFloat(b.Lo00); v[288] = Interop.IntAsFloat(b.Lo01); v[320] = Interop.IntAsFloat(b.Lo10); v[352] = Interop.IntAsFloat(b.Lo11);
        v[384] = Interop.IntAsFloat(b.Lo20); v[416] = Interop.IntAsFloat(b.Lo21); v[448] = Interop.IntAsFloat(b.Lo30); v[480] = Interop.IntAsFloat(b.Lo31);
    }

    /// <summary>
    /// A row tile's 12 mma as the tensor cores compute them (the CUDA path of TensorTile.RowTile, same products in the
    /// same order), from the fragments as PTX lays them out: each lane records its A registers in <paramref name="slot"/>
    /// beside the step's B registers (<see cref="RecordColumns"/>); after a warp barrier each lane forms its outputs from
    /// the lanes that hold the operands (<see cref="EmulatedMma"/>).
    /// </summary>
    private static void EmulatedRowTile(ref MmaRow r, uint ah0, uint ah1, uint ah2, uint ah3, uint al0, uint al1, uint al2, uint al3, ArrayView<float> x, int slot)
    {
        int lane = Group.IdxX & 31, warp = (Group.IdxX - lane) * EmulatedRegisters, a = EmulatedA + EmulatedASlot * slot;
        var v = x.SubView(warp + a * 32 + lane);
        v[0] = Interop.IntAsFloat(ah0); v[32] = Interop.IntAsFloat(ah1); v[64] = Interop.IntAsFloat(ah2); v[96] = Interop.IntAsFloat(ah3);
        v[128] = Interop.IntAsFloat(al0); v[160] = Interop.IntAsFloat(al1); v[192] = Interop.IntAsFloat(al2); v[224] = Interop.IntAsFloat(al3);
        Warp.Barrier();
        EmulatedRow(ref r, x.SubView(warp), a);
    }

    /// <summary>A row tile's 12 emulated mma (A hi at <paramref name="a"/>, lo 4 registers on), column tile by column tile.</summary>
    private static void EmulatedRow(ref MmaRow r, ArrayView<float> warp, int a)
    {
        EmulatedMma3(ref r.N0, warp, a, 0);
        EmulatedMma3(ref r.N1, warp, a, 2);
        EmulatedMma3(ref r.N2, warp, a, 4);
        EmulatedMma3(ref r.N3, warp, a, 6);
    }

    /// <summary>Column tile j's three products (B registers at <paramref name="column"/> = 2 j), in <see cref="Mma3"/>'s order.</summary>
    private static void EmulatedMma3(ref MmaFragment c, ArrayView<float> warp, int a, int column)
    {
        EmulatedMma(ref c, warp, a + 4, column);
        EmulatedMma(ref c, warp, a, EmulatedBLo + column);
        EmulatedMma(ref c, warp, a, column);
    }

    /// <summary>
    /// What mma.m16n8k8 computes for this lane, with the warp's A fragments at registers a .. a + 3 and B at b, b + 1 of
    /// the exchange (register r of lane L at r * 32 + L). PTX's layout: lane (g, t) = (L / 4, L % 4) holds A[g][t],
    /// A[g + 8][t], A[g][t + 4], A[g + 8][t + 4] and B[t][g], B[t + 4][g], and gets C[g][2 t], C[g][2 t + 1],
    /// C[g + 8][2 t], C[g + 8][2 t + 1]. Products of TF32 values are exact in float32, as in the tensor core; the 8
    /// products are added in order.
    /// </summary>
    private static void EmulatedMma(ref MmaFragment c, ArrayView<float> warp, int a, int b)
    {
        int lane = Group.IdxX & 31, g = lane >> 2, t = lane & 3;
        for (int k = 0; k < 8; k++)
        {
            int holder = k & 3, high = k < 4 ? 0 : 2, bRegister = k < 4 ? b : b + 1;
            float top = warp[(a + high) * 32 + 4 * g + holder], bottom = warp[(a + high + 1) * 32 + 4 * g + holder];
            float left = warp[bRegister * 32 + 4 * (2 * t) + holder], right = warp[bRegister * 32 + 4 * (2 * t + 1) + holder];
            c.C0 += top * left;
            c.C1 += top * right;
            c.C2 += bottom * left;
            c.C3 += bottom * right;
        }
    }

    // Launch bounds: as version 4's, the most groups per multiprocessor whose register cap (96 for 5 groups, 128 for 4)
    // ptxas meets without spills, sm_90 (the ptxas tests check every closing). Fewer than version 4's: 6 groups (80
    // registers) spilled 2-band kernels, 5 spilled the 3-band backward ones (the split fragments are live beside the
    // accumulators).

    /// <summary>
    /// Forward, version 5 (tensor cores, 3xTF32): as version 4's <see cref="ForwardBanded{T, TTaps, TRows}"/> with
    /// <typeparamref name="TBands"/>' band count, same launch (Ceiling(OutChannels, 16 m) * Ceiling(pixels, 128) * splits
    /// groups of <see cref="TileThreads"/> threads), same outputs, statistics partials and split partials. CUDA (sm_80+),
    /// or emulated (tests).
    /// </summary>
    [LaunchBounds(TileThreads, TwoBands = 5, ThreeBands = 5, FourBands = 4)]
    private static void ForwardTensorCores<TBands, TTaps, TRows>(ConvShape s, ArrayView<float> input, ArrayView<float> weight, Prologue prologue, ArrayView<float> output,
        ArrayView<double> statistics, int withStatistics, int splitSteps, ArrayView<float> splitPartials)
        where TBands : struct, IBands where TTaps : struct, ITaps where TRows : struct, IRowSums
    {
        var sums = SharedMemory.Allocate<double>(RowSums);
        var tile = ForwardProduct<TensorTile<TBands>, TTaps>(s, input, weight, prologue, BandedGeometry<TBands>(), splitSteps, out int co0, out int pixel0, out int split);
        var band = new TileGeometry(BandRows);
        int pixels = s.Batch * s.OutSize * s.OutSize;
        bool unsplit = splitSteps >= Ceiling(s.InChannels * s.Kernel * s.Kernel, TileDepth);
        for (int i = 0; i < default(TBands).Count; i++)
        {
            var block = tile.Band(i, band);
            if (!unsplit) StoreSplit(block, band, splitPartials, split, co0 + BandRows * i, s.OutChannels, pixel0, pixels);
            else
            {
                StoreForwardBlock(s, block, band, pixel0, co0 + BandRows * i, output);
                if (withStatistics != 0) StatisticsTree<TRows>(s, block, band, pixel0, co0 + BandRows * i, sums, statistics); // uniform over the group
            }
        }
    }

    /// <summary>
    /// Backward-input through BN-ReLU, version 5: as version 4's <see cref="BackwardInputThroughBatchNormBanded{T, TTaps, TRows}"/>
    /// with <typeparamref name="TBands"/>' band count and the product dX = W^T dY on tensor cores (3xTF32), same launch,
    /// outputs and partials. CUDA (sm_80+), or emulated.
    /// </summary>
    [LaunchBounds(TileThreads, TwoBands = 5, ThreeBands = 4, FourBands = 4)]
    private static void BackwardInputThroughBatchNormTensorCores<TBands, TTaps, TRows>(
        ConvShape s, ArrayView<float> dOut, ArrayView<float> weight, ArrayView<float> input, Prologue prologue, BatchNormBackward bn, ArrayView<double> partials,
        int splitSteps, ArrayView<float> splitPartials) where TBands : struct, IBands where TTaps : struct, ITaps where TRows : struct, IRowSums
    {
        var sums = SharedMemory.Allocate<double>(RowSums);
        var tile = InputGradientProduct<TensorTile<TBands>, TTaps>(s, dOut, weight, BandedGeometry<TBands>(), splitSteps, out int ci0, out int q0, out int split);
        var band = new TileGeometry(BandRows);
        int pixels = s.Batch * s.InSize * s.InSize;
        bool unsplit = splitSteps >= Ceiling(s.OutChannels * s.Kernel * s.Kernel, TileDepth);
        for (int i = 0; i < default(TBands).Count; i++)
        {
            var block = tile.Band(i, band);
            if (unsplit) ThroughBatchNormEpilogueTree<TRows>(s, block, band, ci0 + BandRows * i, q0, input, prologue, bn, sums, partials);
            else StoreSplit(block, band, splitPartials, split, ci0 + BandRows * i, s.InChannels, q0, pixels);
        }
    }

    /// <summary>
    /// Backward-weights, version 5: as version 4's <see cref="BackwardWeightsBanded{T, TTaps}"/> with <typeparamref name="TBands"/>'
    /// band count (16 m output channels x 128 weight columns, reduced over a split's pixels), the product on tensor cores
    /// (3xTF32); same launch and partials. CUDA (sm_80+), or emulated.
    /// </summary>
    [LaunchBounds(TileThreads, TwoBands = 5, ThreeBands = 4, FourBands = 4)]
    private static void BackwardWeightsTensorCores<TBands, TTaps>(ConvShape s, ArrayView<float> input, Prologue prologue, ArrayView<float> dOut, ArrayView<float> partials, int chunk)
        where TBands : struct, IBands where TTaps : struct, ITaps
    {
        var tile = WeightsProduct<TensorTile<TBands>, TTaps>(s, input, prologue, dOut, chunk, BandedGeometry<TBands>(), out int co0, out int k0, out int split);
        var band = new TileGeometry(BandRows);
        for (int i = 0; i < default(TBands).Count; i++) WeightsEpilogue(s, tile.Band(i, band), band, split, co0 + BandRows * i, k0, partials);
    }

    /// <summary>
    /// Version 5's closed kernel of <paramref name="product"/> for <paramref name="bands"/> (2, 3 or 4) and
    /// <paramref name="taps"/>, taking the arguments of version 4's kernel of that product and bands
    /// (<see cref="BandedKernel"/>), its epilogue sums by warp shuffles or through shared memory; null for the plain input
    /// gradient (no BN to fuse: it stays on version 4).
    /// </summary>
    public static System.Reflection.MethodInfo? TensorCoreKernel(BandedProduct product, int bands, TapKind taps, bool warpShuffles)
    {
        var bandsType = BandsType(bands);
        var sums = warpShuffles ? typeof(ShuffleRowSums) : typeof(TreeRowSums);
        var (name, arguments) = product switch
        {
            BandedProduct.Forward => (nameof(ForwardTensorCores), new[] { bandsType, TapsType(taps), sums }),
            BandedProduct.BackwardInputThroughBatchNorm => (nameof(BackwardInputThroughBatchNormTensorCores), new[] { bandsType, TapsType(taps), sums }),
            BandedProduct.BackwardWeights => (nameof(BackwardWeightsTensorCores), new[] { bandsType, TapsType(taps) }),
            _ => (null, System.Type.EmptyTypes),
        };
        return name is null ? null
            : typeof(ConvolutionKernels).GetMethod(name, System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic)!.MakeGenericMethod(arguments);
    }

    /// <summary>Every closed kernel of version 5 that CUDA loads (warp-shuffle sums; for the PTX checks and kernel images).</summary>
    public static System.Collections.Generic.IEnumerable<System.Reflection.MethodInfo> TensorCoreKernels()
    {
        foreach (var product in System.Enum.GetValues<BandedProduct>())
            for (int m = 2; m <= 4; m++)
                foreach (var taps in System.Enum.GetValues<TapKind>())
                    if (TensorCoreKernel(product, m, taps, warpShuffles: true) is { } kernel) yield return kernel;
    }
}
