using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace DenseGen.Data;

/// <summary>
/// CIFAR-10 and CIFAR-100 in the official binary layout. A CIFAR-10 record is 1 label byte and 3,072 pixel bytes
/// (1,024 red, 1,024 green, 1,024 blue, row-major 32x32); a CIFAR-100 record has a coarse and a fine label byte
/// first (the fine label is used). The reader takes whichever training batches exist and says which.
/// </summary>
public static class CifarReader
{
    private const int Pixels = 3 * 32 * 32;

    /// <summary>What was read: the set and the files it came from.</summary>
    public sealed record Split(ImageSet Images, IReadOnlyList<string> Files);

    /// <summary>
    /// The training split of a <c>cifar-10-batches-bin</c> folder (data_batch_1.bin ... data_batch_5.bin, those
    /// present) or of a <c>cifar-100-binary</c> folder (train.bin).
    /// </summary>
    public static Split ReadTraining(string folder) => Read(folder, training: true);

    /// <summary>The test split: test_batch.bin (CIFAR-10) or test.bin (CIFAR-100).</summary>
    public static Split ReadTest(string folder) => Read(folder, training: false);

    private static Split Read(string folder, bool training)
    {
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"{folder}: no such folder; point to cifar-10-batches-bin or cifar-100-binary.");
        bool cifar100 = File.Exists(Path.Combine(folder, "train.bin")) || File.Exists(Path.Combine(folder, "test.bin"));
        string[] files = cifar100
            ? [Path.Combine(folder, training ? "train.bin" : "test.bin")]
            : training
                ? Enumerable.Range(1, 5).Select(i => Path.Combine(folder, $"data_batch_{i}.bin")).Where(File.Exists).ToArray()
                : [Path.Combine(folder, "test_batch.bin")];
        files = files.Where(File.Exists).ToArray();
        if (files.Length == 0)
            throw new FileNotFoundException($"{folder} holds no CIFAR {(training ? "training" : "test")} batch " +
                $"({(training ? "data_batch_1.bin ... data_batch_5.bin, or train.bin" : "test_batch.bin or test.bin")}).");

        int labelBytes = cifar100 ? 2 : 1, record = labelBytes + Pixels, classes = cifar100 ? 100 : 10;
        var pixels = new List<byte[]>();
        var labels = new List<byte>();
        foreach (string file in files)
        {
            long length = new FileInfo(file).Length;
            if (length == 0) throw new DataFormatException(file, 0, "the file is empty");
            if (length % record != 0)
                throw new DataFormatException(file, length - length % record,
                    $"truncated: {length} bytes is not a whole number of {record}-byte records (the last record has {length % record} bytes)");
            if (length > int.MaxValue) throw new DataFormatException(file, 0, "larger than 2 GiB; not a CIFAR batch");
            var data = File.ReadAllBytes(file);
            for (long offset = 0; offset < data.Length; offset += record)
            {
                byte label = data[offset + labelBytes - 1];
                if (label >= classes)
                    throw new DataFormatException(file, offset + labelBytes - 1, $"label {label} of record {offset / record} is outside [0, {classes})");
                labels.Add(label);
                pixels.Add(data.AsSpan((int)offset + labelBytes, Pixels).ToArray());
            }
        }
        var all = new byte[pixels.Count * Pixels];
        for (int i = 0; i < pixels.Count; i++) pixels[i].CopyTo(all, i * Pixels);
        return new Split(new ImageSet(all, labels.ToArray(), 3, 32, classes, string.Join(", ", files)), files);
    }
}
