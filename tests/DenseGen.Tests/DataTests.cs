using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;
using System.Linq;
using DenseGen.Data;
using DenseGen.TestSupport;
using Xunit;

namespace DenseGen.Tests;

/// <summary>The loaders on real files, on crafted bad files (each error names the file and what is wrong), and on random bytes.</summary>
public sealed class DataTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("densegen-data-").FullName;

    private static string SharedData(string name)
    {
        string path = Path.Combine(Repository.Root, "..", "shared", "data", name);
        Assert.True(Directory.Exists(path), $"{path} is missing: the tests expect ../shared/data beside the clone (DESIGN §7)");
        return path;
    }

    [Fact]
    public void Reads_the_official_mnist_files()
    {
        var train = MnistReader.ReadSplit(SharedData("mnist"), "train");
        var test = MnistReader.ReadSplit(SharedData("mnist"), "t10k");
        Assert.Equal((8000, 2000, 28, 1), (train.Count, test.Count, train.Size, train.Channels));
        Assert.Equal(10, train.Labels.Distinct().Count());
        Assert.InRange(train.ChannelStatistics().Mean[0], 0.1, 0.16); // MNIST's mean intensity is about 0.13
    }

    [Fact]
    public void Reads_whichever_cifar_batches_exist()
    {
        var train = CifarReader.ReadTraining(SharedData(Path.Combine("cifar10", "cifar-10-batches-bin")));
        var test = CifarReader.ReadTest(SharedData(Path.Combine("cifar10", "cifar-10-batches-bin")));
        Assert.Equal("data_batch_1.bin", Path.GetFileName(Assert.Single(train.Files)));
        Assert.Equal((10000, 10000, 3, 32, 10), (train.Images.Count, test.Images.Count, train.Images.Channels, train.Images.Size, train.Images.Classes));
    }

    private string Write(string name, byte[] bytes, bool gzip = false)
    {
        string path = Path.Combine(_folder, name);
        if (!gzip) File.WriteAllBytes(path, bytes);
        else
        {
            using var file = File.Create(path);
            using var zip = new GZipStream(file, CompressionLevel.Fastest);
            zip.Write(bytes);
        }
        return path;
    }

    private static byte[] Idx(int magic, params int[] dimensionsThenData)
    {
        var header = new byte[4 + 4 * dimensionsThenData.Length];
        BinaryPrimitives.WriteInt32BigEndian(header, magic);
        for (int i = 0; i < dimensionsThenData.Length; i++) BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4 + 4 * i), dimensionsThenData[i]);
        return header;
    }

    [Theory]
    [InlineData("wrong magic", "is not 2051")]
    [InlineData("truncated", "truncated")]
    [InlineData("trailing bytes", "follow the")]
    [InlineData("corrupt gzip", "gzip")]
    public void Bad_mnist_image_files_are_named_with_the_problem(string kind, string expected)
    {
        var good = Idx(2051, 2, 3, 3).Concat(new byte[18]).ToArray();
        string path = kind switch
        {
            "wrong magic" => Write("a.idx", Idx(2049, 2, 3, 3).Concat(new byte[18]).ToArray()),
            "truncated" => Write("a.idx.gz", good[..^5], gzip: true),
            "trailing bytes" => Write("a.idx", good.Concat(new byte[3]).ToArray()),
            _ => Write("a.idx.gz", new byte[] { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7 }),
        };
        var error = Assert.Throws<DataFormatException>(() => MnistReader.ReadImages(path));
        Assert.Contains(path, error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Mnist_labels_out_of_range_and_count_mismatches_are_reported()
    {
        Directory.CreateDirectory(Path.Combine(_folder, "m"));
        Write(Path.Combine("m", "train-images-idx3-ubyte"), Idx(2051, 2, 2, 2).Concat(new byte[8]).ToArray());
        Write(Path.Combine("m", "train-labels-idx1-ubyte"), Idx(2049, 2).Concat(new byte[] { 3, 12 }).ToArray());
        var error = Assert.Throws<DataFormatException>(() => MnistReader.ReadSplit(Path.Combine(_folder, "m"), "train"));
        Assert.Contains("label 12", error.Message);
        Assert.Equal(9, error.Offset);
        Write(Path.Combine("m", "train-labels-idx1-ubyte"), Idx(2049, 3).Concat(new byte[] { 3, 1, 2 }).ToArray());
        error = Assert.Throws<DataFormatException>(() => MnistReader.ReadSplit(Path.Combine(_folder, "m"), "train"));
        Assert.Contains("3 labels but", error.Message);
    }

    [Fact]
    public void Bad_cifar_batches_are_named_with_the_problem()
    {
        string folder = Path.Combine(_folder, "c");
        Directory.CreateDirectory(folder);
        Assert.Throws<FileNotFoundException>(() => CifarReader.ReadTraining(folder)); // empty folder
        var record = new byte[3073];
        Write(Path.Combine("c", "data_batch_1.bin"), record.Concat(record[..100]).ToArray());
        var error = Assert.Throws<DataFormatException>(() => CifarReader.ReadTraining(folder));
        Assert.Contains("truncated", error.Message);
        Assert.Equal(3073, error.Offset);
        record[0] = 10;
        Write(Path.Combine("c", "data_batch_1.bin"), record);
        error = Assert.Throws<DataFormatException>(() => CifarReader.ReadTraining(folder));
        Assert.Contains("label 10", error.Message);
        Write(Path.Combine("c", "data_batch_1.bin"), []);
        Assert.Contains("empty", Assert.Throws<DataFormatException>(() => CifarReader.ReadTraining(folder)).Message);
    }

    [Fact]
    public void Random_bytes_never_crash_a_loader()
    {
        var random = new Random(3);
        for (int i = 0; i < 2000; i++)
        {
            var bytes = new byte[random.Next(0, 64)];
            random.NextBytes(bytes);
            if (random.Next(3) == 0) BinaryPrimitives.WriteInt32BigEndian(bytes.Length >= 4 ? bytes : new byte[4], random.Next(2) == 0 ? 2051 : 2049);
            string path = Write($"fuzz{i % 4}{(random.Next(2) == 0 ? ".gz" : "")}", bytes, gzip: random.Next(4) == 0);
            foreach (var read in new Action[] { () => MnistReader.ReadImages(path), () => MnistReader.ReadLabels(path) })
            {
                try { read(); }
                catch (DataFormatException error) { Assert.Contains(path, error.Message); }
            }
        }
        string folder = Path.Combine(_folder, "fuzz-cifar");
        Directory.CreateDirectory(folder);
        for (int i = 0; i < 200; i++)
        {
            var bytes = new byte[random.Next(0, 3 * 3073)];
            random.NextBytes(bytes);
            File.WriteAllBytes(Path.Combine(folder, "data_batch_1.bin"), bytes);
            try { CifarReader.ReadTraining(folder); }
            catch (DataFormatException error) { Assert.Contains("data_batch_1.bin", error.Message); }
        }
    }

    [Fact]
    public void Augmentation_crops_within_the_padding_and_flips()
    {
        const int size = 6;
        var image = Enumerable.Range(0, size * size).Select(i => (float)(i + 1)).ToArray(); // 1..36, no zero inside
        var target = new float[image.Length];
        var random = new Random(4);
        bool sawFlip = false, sawShift = false;
        for (int trial = 0; trial < 200; trial++)
        {
            Augmentation.PadCropFlip(image, target, 1, size, [0f], random, padding: 2);
            // Every output pixel is either padding or a source pixel, and rows stay rows (a crop, not a shuffle).
            for (int y = 0; y < size; y++)
            {
                var row = target.Skip(y * size).Take(size).Where(v => v != 0).ToArray();
                if (row.Length < 2) continue;
                int step = (int)(row[1] - row[0]);
                Assert.True(step is 1 or -1, $"row {y} is not a contiguous source row: {string.Join(",", row)}");
                sawFlip |= step == -1;
                Assert.All(row.Zip(row.Skip(1)), pair => Assert.Equal(step, (int)(pair.Second - pair.First)));
            }
            sawShift |= target.Contains(0f);
        }
        Assert.True(sawFlip && sawShift);
        Augmentation.PadCropFlip(image, target, 1, size, [0f], new Random(5), padding: 0);
        Assert.True(target.SequenceEqual(image) || target.SequenceEqual(Enumerable.Range(0, size).SelectMany(y => Enumerable.Range(0, size).Select(x => image[y * size + size - 1 - x]))));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
