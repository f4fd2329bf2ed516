using System;

namespace DenseGen.Data;

/// <summary>
/// The paper's CIFAR augmentation: pad the image with 4 zero pixels on each side, take a random 32x32 crop, and
/// flip it horizontally with probability 1/2. Works on normalised float images [C, S, S]; "zero" padding means a
/// zero pixel before normalisation, so it is the channel's normalised value of 0.
/// </summary>
public static class Augmentation
{
    /// <summary>Writes the augmented image of <paramref name="source"/> into <paramref name="target"/>.</summary>
    public static void PadCropFlip(ReadOnlySpan<float> source, Span<float> target, int channels, int size, ReadOnlySpan<float> zero, Random random, int padding = 4)
    {
        int dy = random.Next(2 * padding + 1) - padding, dx = random.Next(2 * padding + 1) - padding;
        bool flip = random.Next(2) == 1;
        int area = size * size;
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++)
                {
                    int sy = y + dy, sx = (flip ? size - 1 - x : x) + dx;
                    target[c * area + y * size + x] = sy < 0 || sy >= size || sx < 0 || sx >= size ? zero[c] : source[c * area + sy * size + sx];
                }
    }
}
