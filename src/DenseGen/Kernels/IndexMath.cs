namespace DenseGen.Kernels;

/// <summary>
/// Integer index arithmetic for the kernels' loops. ptxas (CUDA 11.8, sm_90; the assembler the driver's JIT runs)
/// assembles PTX's <c>div.s32</c> by a constant that is not a power of two, and <c>rem.s32</c> by any constant, as a
/// full division: an I2F, a reciprocal, an F2I and a dozen integer instructions with fix-ups (11 of them ran in every
/// reduction step of version 4's forward loop). C compilers never hand it such code (LLVM divides by multiplying
/// first); ILGPU does. So the divisors the convolutions use (3, 9 and powers of two) go through a multiply-high or a
/// shift here. For x &gt;= 0 only, with a divisor ILGPU folds to a constant after inlining.
/// </summary>
internal static class IndexMath
{
    /// <summary>x / divisor: by 3 and 9 a 32 x 32 -> 64-bit multiply and a shift (exact for every x below 2^31).</summary>
    public static int Quotient(int x, int divisor) => divisor switch
    {
        3 => (int)((ulong)(uint)x * 0xAAAAAAABUL >> 33),
        9 => (int)((ulong)(uint)x * 0x38E38E39UL >> 33),
        _ => x / divisor, // powers of two: a shift
    };

    /// <summary>
    /// x mod divisor: a mask for a power of two, else through the quotient. (A thread's tile column stays t % 32 in
    /// TileGeometry: computed by a mask or through the quotient, PoCL ran version 4's 4-band forward 1.6-1.9x slower.)
    /// </summary>
    public static int Remainder(int x, int divisor) => (divisor & (divisor - 1)) == 0 ? x & (divisor - 1) : x - Quotient(x, divisor) * divisor;
}
