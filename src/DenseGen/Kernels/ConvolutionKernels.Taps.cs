using System;
using ILGPU;

namespace DenseGen.Kernels;

/// <summary>Which reduction-index decode and gathers a convolution product is compiled with (<see cref="ConvolutionKernels.TapKindOf"/>).</summary>
public enum TapKind
{
    /// <summary>Any kernel size, stride and padding: the size read from the shape, the image's borders checked per element.</summary>
    Any,

    /// <summary>
    /// 3 x 3, stride 1, any padding (DenseNet's growth convs): the decode divides by the constants 9 and 3, borders are
    /// checked as <see cref="Any"/>, and the backward-input gather has only its stride-1 path (the general one, with
    /// divisions by the stride, left the kernel: a third of its loop's code).
    /// </summary>
    ThreeByThree,

    /// <summary>
    /// 1 x 1, stride 1, no padding (DenseNet's bottleneck and transition convs): a reduction index is a channel, every
    /// tap of a valid pixel lies inside the image, so a gather is one shared load, one test and the global load.
    /// </summary>
    OneByOne,

    /// <summary>
    /// <see cref="OneByOne"/> with images of a multiple of 4 pixels, read 4 pixels at a time: each thread gathers two
    /// 16-byte quads of one step's pixel-side tile (rows t / 32 and t / 32 + 4, pixels 4 (t % 32) ..), not eight
    /// scalars, and stores them as two quads. One tap lookup, bounds test and BN scale and shift serve 4 pixels. Used by
    /// version 4's forward and backward-input where the image view is 16-byte aligned
    /// (<see cref="ConvolutionKernels.Aligned16"/>): a misaligned 16-byte load is an error on a GPU. CUDA only by default
    /// (<see cref="ConvolutionKernels.QuadsByDefault"/>). DenseNet's bottleneck
    /// convs (32x32 ... 8x8, 56x56 ... 14x14) and transitions but DenseNet-121's last block (7x7) qualify.
    /// </summary>
    OneByOneQuads,
}

/// <summary>
/// Tap kinds as type arguments of the software-pipelined products (versions 3 and 4): ILGPU compiles a generic kernel
/// once per closed type, and folds <c>default(T).Kernel(s)</c> and <c>default(T).Unpadded</c> to constants, so each kind's
/// kernel carries only its own decode and gathers. Version 4 compiles one kernel per kind a network uses: a third to
/// a half of the PTX of the one that held all three (measured by ptxas in benchmarks/RESULTS.md), which is what the
/// CUDA driver's JIT spends the first step on; and the 1 x 1 gathers drop two of their three shared loads and both
/// border checks from the main loop.
/// </summary>
internal static partial class ConvolutionKernels
{
    /// <summary>
    /// The tap kind whose kernels serve <paramref name="s"/>: the most specific one that is exact for it, quads aside
    /// (decided per launch, from the view: <see cref="Aligned16"/>).
    /// </summary>
    public static TapKind TapKindOf(ConvShape s) =>
        s.Kernel == 1 && s.Stride == 1 && s.Padding == 0 && s.InSize == s.OutSize ? TapKind.OneByOne
        : s.Kernel == 3 && s.Stride == 1 ? TapKind.ThreeByThree
        : TapKind.Any;

    /// <summary>
    /// Whether <paramref name="image"/> starts 16 bytes into its buffer's alignment (device buffers start at 256 bytes or
    /// more on CUDA and OpenCL), as quads need besides images of a multiple of 4 pixels (a quad of pixels 4 j .. 4 j + 3
    /// then lies in one image and one channel plane).
    /// </summary>
    public static bool Aligned16(ArrayView<float> image) => ((IContiguousArrayView)image).IndexInBytes % 16 == 0;

    /// <summary>
    /// Whether a kernel set on <paramref name="backend"/> uses quads: on CUDA, where a 16-byte load is one instruction
    /// for a thread; not on OpenCL (PoCL) or ILGPU's CPU accelerator, whose compilers vectorise across work-items, where
    /// consecutive work-items reading consecutive floats is the fast pattern: on PoCL the quads made the 1x1 forward
    /// 1.7-1.9x and its backward-input 1.5x slower (benchmarks/RESULTS.md). DENSEGEN_QUADS=on or off overrides this for
    /// every backend (quads have not run on a GPU yet; the tests force them on the other backends).
    /// </summary>
    public static bool QuadsByDefault(ILGPU.Runtime.AcceleratorType backend) => Environment.GetEnvironmentVariable("DENSEGEN_QUADS") switch
    {
        "on" or "1" => true,
        "off" or "0" => false,
        _ => backend == ILGPU.Runtime.AcceleratorType.Cuda,
    };

    internal interface ITaps
    {
        /// <summary>The kernel size: a constant where the kind fixes it.</summary>
        int Kernel(ConvShape s);

        /// <summary>Whether every tap of a valid pixel is inside the image (1 x 1, stride 1, no padding): no border checks.</summary>
        bool Unpadded { get; }

        /// <summary>Whether the kind has stride 1 (1 x 1 and 3 x 3): the strided paths fold away.</summary>
        bool StrideOne { get; }

        /// <summary>Whether pixel-side gathers read 16-byte quads (<see cref="TapKind.OneByOneQuads"/>).</summary>
        bool Quads { get; }
    }

    internal struct AnyTaps : ITaps
    {
        public readonly int Kernel(ConvShape s) => s.Kernel;
        public readonly bool Unpadded => false;
        public readonly bool StrideOne => false;
        public readonly bool Quads => false;
    }

    internal struct Taps3x3 : ITaps
    {
        public readonly int Kernel(ConvShape s) => 3;
        public readonly bool Unpadded => false;
        public readonly bool StrideOne => true;
        public readonly bool Quads => false;
    }

    internal struct Taps1x1 : ITaps
    {
        public readonly int Kernel(ConvShape s) => 1;
        public readonly bool Unpadded => true;
        public readonly bool StrideOne => true;
        public readonly bool Quads => false;
    }

    internal struct Taps1x1Quads : ITaps
    {
        public readonly int Kernel(ConvShape s) => 1;
        public readonly bool Unpadded => true;
        public readonly bool StrideOne => true;
        public readonly bool Quads => true;
    }

    /// <summary>The type argument of <paramref name="kind"/>.</summary>
    internal static System.Type TapsType(TapKind kind) => kind switch
    {
        TapKind.OneByOne => typeof(Taps1x1),
        TapKind.OneByOneQuads => typeof(Taps1x1Quads),
        TapKind.ThreeByThree => typeof(Taps3x3),
        _ => typeof(AnyTaps),
    };
}
