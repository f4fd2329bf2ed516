using System;
using System.IO;
using System.Linq;
using DenseGen.Data;
using DenseGen.Model;

namespace DenseGen.Cli;

/// <summary>A training and a test split, and a sentence saying where they came from.</summary>
internal sealed record DataSplits(ImageSet Train, ImageSet Test, string Description, bool Cifar)
{
    /// <summary>Keeps the first <paramref name="count"/> training images (and as many test images at most).</summary>
    public DataSplits Limit(int count)
    {
        if (count >= Train.Count) return this;
        static ImageSet First(ImageSet set, int n)
        {
            int per = set.Channels * set.Size * set.Size;
            return new ImageSet(set.Pixels.AsSpan(0, n * per).ToArray(), set.Labels.AsSpan(0, n).ToArray(), set.Channels, set.Size, set.Classes, set.Source);
        }
        return this with { Train = First(Train, count), Test = First(Test, Math.Min(count, Test.Count)), Description = Description + $"; limited to the first {count:N0} training and {Math.Min(count, Test.Count):N0} test images" };
    }
}

/// <summary>Finds and reads the data a command names: an official-format folder, an image folder, or the embedded digits.</summary>
internal static class DataSets
{
    /// <summary>
    /// null: the 8,000 + 2,000 MNIST digits embedded in this program. Otherwise a folder holding CIFAR-10 batches
    /// (data_batch_N.bin, test_batch.bin), CIFAR-100 (train.bin, test.bin), MNIST IDX files, or train/ and test/ (or
    /// val/) folders of class subfolders of images.
    /// </summary>
    public static DataSplits Load(string? path, ModelDescription model)
    {
        if (path is null)
        {
            var asm = typeof(DataSets).Assembly;
            Stream Open(string name) => asm.GetManifestResourceStream("mnist/" + name) ?? throw new InvalidOperationException($"embedded resource mnist/{name} is missing from this build");
            using var ti = Open("train-images-idx3-ubyte.gz");
            using var tl = Open("train-labels-idx1-ubyte.gz");
            using var vi = Open("t10k-images-idx3-ubyte.gz");
            using var vl = Open("t10k-labels-idx1-ubyte.gz");
            var train = MnistReader.ReadSplit("embedded:mnist/train-images-idx3-ubyte.gz", ti, "embedded:mnist/train-labels-idx1-ubyte.gz", tl);
            var test = MnistReader.ReadSplit("embedded:mnist/t10k-images-idx3-ubyte.gz", vi, "embedded:mnist/t10k-labels-idx1-ubyte.gz", vl);
            return new DataSplits(train, test, $"the embedded MNIST digits ({train.Count:N0} training, {test.Count:N0} test)", false);
        }
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"{path}: no such folder; --data takes a folder of CIFAR batches, MNIST IDX files or class folders of images.");
        bool Has(string pattern) => Directory.EnumerateFiles(path, pattern).Any();
        if (Has("data_batch_*.bin") || Has("test_batch.bin") || Has("train.bin") || Has("test.bin"))
        {
            var train = CifarReader.ReadTraining(path);
            var test = CifarReader.ReadTest(path);
            string kind = train.Images.Classes == 100 ? "CIFAR-100" : "CIFAR-10";
            string batches = string.Join(", ", train.Files.Select(Path.GetFileName));
            string note = kind == "CIFAR-10" && train.Files.Count < 5 ? $" (only {train.Files.Count} of the 5 training batches are present: {batches})" : $" ({batches})";
            return new DataSplits(train.Images, test.Images, $"{kind} from {path}: {train.Images.Count:N0} training images{note}, {test.Images.Count:N0} test images", true);
        }
        if (Has("*-idx3-ubyte*") || Has("*.idx3-ubyte*"))
        {
            var train = MnistReader.ReadSplit(path, "train");
            var test = MnistReader.ReadSplit(path, "t10k");
            return new DataSplits(train, test, $"MNIST from {path}: {train.Count:N0} training, {test.Count:N0} test digits", false);
        }
        string trainFolder = Path.Combine(path, "train");
        string? testFolder = new[] { "test", "val" }.Select(n => Path.Combine(path, n)).FirstOrDefault(Directory.Exists);
        if (Directory.Exists(trainFolder) && testFolder is not null)
        {
            var classes = ImageFolderReader.Classes(trainFolder);
            var train = ImageFolderReader.Read(trainFolder, model.InputSize, model.InputChannels);
            var test = ImageFolderReader.Read(testFolder, model.InputSize, model.InputChannels, classes);
            return new DataSplits(train, test, $"image folders under {path}: {classes.Count} classes, {train.Count:N0} training and {test.Count:N0} test images at {model.InputSize}x{model.InputSize}", false);
        }
        throw new DataFormatException(path, 0, "holds no CIFAR batches, no MNIST IDX files and no train/ + test/ (or val/) image folders");
    }
}
