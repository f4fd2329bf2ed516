using ILGPU;

namespace DenseGen.Kernels;

/// <summary>
/// Dropout without a stored mask: whether an element is kept is a hash of (seed, element), so backward recomputes
/// the same mask. Applied, as torchvision does, to the new channels each dense layer writes into its block.
/// </summary>
internal static class DropoutKernels
{
    /// <summary>A 32-bit integer hash (murmur3's finaliser) of the seed and the element.</summary>
    public static uint Hash(uint seed, uint element)
    {
        uint h = seed ^ (element * 0x9E3779B9u);
        h ^= h >> 16;
        h *= 0x85EBCA6Bu;
        h ^= h >> 13;
        h *= 0xC2B2AE35u;
        h ^= h >> 16;
        return h;
    }

    /// <summary>The factor of element <paramref name="element"/>: 0 with probability rate, else 1 / (1 - rate).</summary>
    public static float Factor(uint seed, uint element, float rate) =>
        Hash(seed, element) < (uint)(rate * 4294967295.0) ? 0f : 1f / (1f - rate);

    /// <summary>
    /// Multiplies channels [Offset, Offset + Count) of a buffer by the dropout factors; element e of the range is
    /// numbered (n * Count + c) * area + p, independent of the buffer's width. Forward on the values; backward on
    /// the finalized gradient, with the same seed: Hash(step key, layer key). The step key (a hash of the run's seed
    /// and the training step) is read from device memory, where the session writes it before each step, so the launch's
    /// arguments are the same every step and a CUDA graph can replay them; the layer key is the launch's own.
    /// </summary>
    public static void Apply(Index1D index, ChannelRange r, ArrayView<float> buffer, ArrayView<uint> stepKey, uint layerKey, float rate)
    {
        uint seed = Hash(stepKey[0], layerKey);
        int area = r.Size * r.Size;
        int c = index / r.PerChannel, e = index % r.PerChannel;
        int n = e / area, p = e % area;
        uint element = (uint)((n * r.Count + c) * area + p);
        buffer[r.Index(c, e)] *= Factor(seed, element, rate);
    }
}
