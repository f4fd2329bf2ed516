using System;
using System.IO;
using System.Linq;
using DenseGen.Data;
using SkiaSharp;
using Xunit;

namespace DenseGen.Tests;

/// <summary>Folders of images per class: decoding, scaling and cropping, class order, and every bad input named.</summary>
public sealed class ImageFolderTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("densegen-images-").FullName;

    private string Image(string cls, string name, int width, int height, SKColor color, SKEncodedImageFormat format = SKEncodedImageFormat.Png)
    {
        string folder = Path.Combine(_root, cls);
        Directory.CreateDirectory(folder);
        using var bitmap = new SKBitmap(width, height);
        bitmap.Erase(color);
        string path = Path.Combine(folder, name);
        using var data = bitmap.Encode(format, 100);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    [Fact]
    public void Reads_classes_in_name_order_scaled_and_centre_cropped()
    {
        Image("zebra", "a.png", 40, 20, new SKColor(200, 10, 30));
        Image("apple", "b.png", 16, 16, new SKColor(0, 128, 255));
        Image("apple", "c.jpg", 30, 60, new SKColor(90, 90, 90), SKEncodedImageFormat.Jpeg);
        var set = ImageFolderReader.Read(_root, 8);
        Assert.Equal(3, set.Count);
        Assert.Equal(2, set.Classes);
        Assert.Equal(new byte[] { 0, 0, 1 }, set.Labels); // apple = 0 (b.png, c.jpg), zebra = 1
        int area = 64;
        Assert.All(set.Pixels.AsSpan(0, area).ToArray(), p => Assert.Equal(0, p));                // b.png red
        Assert.All(set.Pixels.AsSpan(2 * area, area).ToArray(), p => Assert.Equal(255, p));       // b.png blue
        Assert.All(set.Pixels.AsSpan(2 * 3 * area, area).ToArray(), p => Assert.Equal(200, p));   // zebra red
        Assert.All(set.Pixels.AsSpan(3 * area, 3 * area).ToArray(), p => Assert.InRange(p, 85, 95)); // the JPEG's grey

        var grey = ImageFolderReader.Read(_root, 4, channels: 1);
        Assert.Equal(3 * 16, grey.Pixels.Length);
    }

    [Fact]
    public void An_empty_folder_is_an_error_naming_it()
    {
        var error = Assert.Throws<DataFormatException>(() => ImageFolderReader.Read(_root, 8));
        Assert.Contains(_root, error.Message);
        Assert.Contains("no class subfolders", error.Message);
        Directory.CreateDirectory(Path.Combine(_root, "cats"));
        error = Assert.Throws<DataFormatException>(() => ImageFolderReader.Read(_root, 8));
        Assert.Contains("no images", error.Message);
    }

    [Fact]
    public void An_unreadable_image_is_named()
    {
        Image("cats", "good.png", 10, 10, SKColors.White);
        string bad = Path.Combine(_root, "cats", "broken.png");
        File.WriteAllBytes(bad, [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);
        var error = Assert.Throws<DataFormatException>(() => ImageFolderReader.Read(_root, 8));
        Assert.Contains(bad, error.Message);
        Assert.Contains("cannot be decoded", error.Message);
    }

    [Fact]
    public void A_test_class_unknown_to_training_is_named()
    {
        Image("cats", "a.png", 10, 10, SKColors.White);
        Image("dogs", "a.png", 10, 10, SKColors.White);
        var error = Assert.Throws<DataFormatException>(() => ImageFolderReader.Read(_root, 8, classNames: ["cats"]));
        Assert.Contains("dogs", error.Message);
    }

    [Fact]
    public void Random_bytes_never_crash_the_image_reader()
    {
        var random = new Random(5);
        var valid = File.ReadAllBytes(Image("x", "valid.png", 12, 9, SKColors.Orange));
        for (int i = 0; i < 150; i++)
        {
            var bytes = random.Next(2) == 0 ? new byte[random.Next(0, 300)] : valid.ToArray();
            if (bytes == valid || bytes.Length == valid.Length)
                for (int k = 0; k < 1 + random.Next(20); k++) bytes[random.Next(bytes.Length)] = (byte)random.Next(256); // corrupt a real PNG
            else random.NextBytes(bytes);
            File.WriteAllBytes(Path.Combine(_root, "x", "valid.png"), bytes);
            try
            {
                var set = ImageFolderReader.Read(_root, 6);
                Assert.Equal(6 * 6 * 3, set.Pixels.Length);
            }
            catch (DataFormatException error) { Assert.Contains("valid.png", error.Message); }
        }
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
