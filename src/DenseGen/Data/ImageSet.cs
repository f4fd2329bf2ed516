using System;

namespace DenseGen.Data;

/// <summary>
/// Images with labels in memory: pixels as bytes [count, channels, size, size] (NCHW, row-major), labels in
/// [0, classes). Normalisation to float happens per batch.
/// </summary>
public sealed class ImageSet
{
    /// <summary>Creates a set; checks the sizes agree and labels lie in [0, classes).</summary>
    public ImageSet(byte[] pixels, byte[] labels, int channels, int size, int classes, string source)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        if (pixels.Length != (long)labels.Length * channels * size * size)
            throw new ArgumentException($"{source}: {pixels.Length} pixel bytes do not hold {labels.Length} images of {channels}x{size}x{size}.");
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] >= classes)
                throw new ArgumentException($"{source}: label {labels[i]} of image {i} is outside [0, {classes}).");
        Pixels = pixels;
        Labels = labels;
        Channels = channels;
        Size = size;
        Classes = classes;
        Source = source;
    }

    /// <summary>Pixel bytes, NCHW.</summary>
    public byte[] Pixels { get; }

    /// <summary>One label per image.</summary>
    public byte[] Labels { get; }

    /// <summary>Number of images.</summary>
    public int Count => Labels.Length;

    /// <summary>Channels per image.</summary>
    public int Channels { get; }

    /// <summary>Height and width.</summary>
    public int Size { get; }

    /// <summary>Number of classes.</summary>
    public int Classes { get; }

    /// <summary>Where the images came from (for messages).</summary>
    public string Source { get; }

    /// <summary>Per-channel mean and standard deviation of the pixels scaled to [0, 1].</summary>
    public (float[] Mean, float[] Std) ChannelStatistics()
    {
        var mean = new float[Channels];
        var std = new float[Channels];
        int area = Size * Size;
        for (int c = 0; c < Channels; c++)
        {
            double sum = 0, squares = 0;
            for (int i = 0; i < Count; i++)
            {
                int start = (i * Channels + c) * area;
                for (int p = 0; p < area; p++)
                {
                    double v = Pixels[start + p] / 255.0;
                    sum += v;
                    squares += v * v;
                }
            }
            double n = (double)Count * area, m = sum / n;
            mean[c] = (float)m;
            std[c] = (float)Math.Sqrt(Math.Max(squares / n - m * m, 1e-12));
        }
        return (mean, std);
    }
}
