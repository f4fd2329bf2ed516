using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using SkiaSharp;

namespace DenseGen.Data;

/// <summary>
/// A folder of images per class, as torchvision's ImageFolder reads it: <c>root/CLASS/*.png|jpg|jpeg|bmp|webp</c>,
/// classes numbered in ordinal order of their folder names. Each image is decoded with SkiaSharp, its shorter side
/// scaled to the network's input size and its centre cropped to a square (torchvision's Resize + CenterCrop), and
/// kept as RGB (or grey) bytes. Everything is held in memory: meant for CIFAR- to ImageNet-subset-sized sets.
/// </summary>
public static class ImageFolderReader
{
    private static readonly string[] s_extensions = [".png", ".jpg", ".jpeg", ".bmp", ".webp"];

    /// <summary>The class names of a root folder, in label order.</summary>
    public static IReadOnlyList<string> Classes(string root) =>
        Directory.Exists(root)
            ? Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray()
            : throw new DirectoryNotFoundException($"{root}: no such folder; point to a folder with one subfolder of images per class.");

    /// <summary>Reads every image under <paramref name="root"/> at <paramref name="size"/> x <paramref name="size"/>.</summary>
    /// <param name="root">A folder with one subfolder per class.</param>
    /// <param name="size">Height and width of the result.</param>
    /// <param name="channels">3 for RGB, 1 for grey.</param>
    /// <param name="classNames">The class order to use (e.g. the training split's for the test split); null: this folder's.</param>
    /// <exception cref="DataFormatException">The folder holds no images, or an image cannot be decoded.</exception>
    public static ImageSet Read(string root, int size, int channels = 3, IReadOnlyList<string>? classNames = null)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "1 (grey) or 3 (RGB)");
        var classes = classNames ?? Classes(root);
        if (classes.Count == 0)
            throw new DataFormatException(root, 0, "the folder holds no class subfolders; put the images of each class in a subfolder named after it");
        var files = new List<(string File, int Label)>();
        for (int label = 0; label < classes.Count; label++)
        {
            string folder = Path.Combine(root, classes[label]);
            if (!Directory.Exists(folder)) continue;
            files.AddRange(Directory.EnumerateFiles(folder)
                .Where(f => s_extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .Order(StringComparer.Ordinal).Select(f => (f, label)));
        }
        foreach (var extra in Classes(root).Except(classes))
            throw new DataFormatException(Path.Combine(root, extra), 0, $"class folder '{extra}' is not among the training classes ({string.Join(", ", classes.Take(10))}{(classes.Count > 10 ? ", ..." : "")})");
        if (files.Count == 0)
            throw new DataFormatException(root, 0, $"no images (PNG, JPEG, BMP, WebP) in any of its {classes.Count} class folders");

        int perImage = channels * size * size;
        var pixels = new byte[(long)files.Count * perImage];
        var labels = new byte[files.Count];
        if (classes.Count > 256) throw new DataFormatException(root, 0, $"{classes.Count} classes; at most 256 are supported");
        try
        {
            System.Threading.Tasks.Parallel.For(0, files.Count, i =>
            {
                Decode(files[i].File, size, channels, pixels.AsSpan(i * perImage, perImage));
                labels[i] = (byte)files[i].Label;
            });
        }
        catch (AggregateException error) when (error.InnerExceptions.OfType<DataFormatException>().Any())
        {
            // The first bad file in file order, whichever thread met it first.
            throw error.InnerExceptions.OfType<DataFormatException>().OrderBy(e => e.Path, StringComparer.Ordinal).First();
        }
        return new ImageSet(pixels, labels, channels, size, classes.Count, root);
    }

    /// <summary>Decodes one image, scales its shorter side to <paramref name="size"/>, crops the centre, writes CHW bytes.</summary>
    private static void Decode(string file, int size, int channels, Span<byte> target)
    {
        using var bitmap = SKBitmap.Decode(file)
            ?? throw new DataFormatException(file, 0, "cannot be decoded as an image (corrupt, or not PNG/JPEG/BMP/WebP); remove or replace it");
        if (bitmap.Width == 0 || bitmap.Height == 0) throw new DataFormatException(file, 0, "the image is empty (0 pixels)");
        double scale = (double)size / Math.Min(bitmap.Width, bitmap.Height);
        int width = Math.Max(size, (int)Math.Round(bitmap.Width * scale)), height = Math.Max(size, (int)Math.Round(bitmap.Height * scale));
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var scaled = bitmap.Resize(info, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
            ?? throw new DataFormatException(file, 0, "the image could not be resized");
        int left = (width - size) / 2, top = (height - size) / 2, area = size * size;
        var rgba = scaled.GetPixelSpan();
        for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++)
        {
            int at = ((top + y) * width + left + x) * 4, p = y * size + x;
            if (channels == 3)
            {
                target[p] = rgba[at];
                target[area + p] = rgba[at + 1];
                target[2 * area + p] = rgba[at + 2];
            }
            else target[p] = (byte)((299 * rgba[at] + 587 * rgba[at + 1] + 114 * rgba[at + 2] + 500) / 1000);
        }
    }
}
