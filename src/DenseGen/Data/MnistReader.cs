using System;
using System.Buffers.Binary;
using System.IO;
using System.IO.Compression;

namespace DenseGen.Data;

/// <summary>
/// MNIST in its official IDX format, gzipped or not: <c>train-images-idx3-ubyte[.gz]</c> (magic 2051: count, rows,
/// columns, then one byte a pixel) and <c>train-labels-idx1-ubyte[.gz]</c> (magic 2049: count, then one byte a label).
/// Everything is checked against the header; a bad file is a <see cref="DataFormatException"/> naming it.
/// </summary>
public static class MnistReader
{
    /// <summary>Reads the images and labels of one split ("train" or "t10k") from a folder of the official files.</summary>
    public static ImageSet ReadSplit(string folder, string split)
    {
        string images = Find(folder, $"{split}-images-idx3-ubyte");
        string labels = Find(folder, $"{split}-labels-idx1-ubyte");
        using var imageStream = File.OpenRead(images);
        using var labelStream = File.OpenRead(labels);
        return ReadSplit(images, imageStream, labels, labelStream);
    }

    /// <summary>
    /// Reads a split from two streams of IDX data (gzipped or not), e.g. resources embedded in an assembly;
    /// <paramref name="images"/> and <paramref name="labels"/> name them in messages.
    /// </summary>
    public static ImageSet ReadSplit(string images, Stream imageStream, string labels, Stream labelStream)
    {
        var (pixels, count, rows, columns) = ReadImages(images, imageStream);
        var labelBytes = ReadLabels(labels, labelStream);
        if (labelBytes.Length != count)
            throw new DataFormatException(labels, 4, $"holds {labelBytes.Length} labels but {images} holds {count} images");
        if (rows != columns)
            throw new DataFormatException(images, 8, $"images are {rows}x{columns}; DenseGen networks take square images");
        for (int i = 0; i < labelBytes.Length; i++)
            if (labelBytes[i] > 9) throw new DataFormatException(labels, 8 + i, $"label {labelBytes[i]} is not a digit (0 to 9)");
        return new ImageSet(pixels, labelBytes, 1, rows, 10, images);
    }

    private static string Find(string folder, string name)
    {
        foreach (string candidate in new[] { name + ".gz", name, name.Replace("-idx", ".idx") + ".gz", name.Replace("-idx", ".idx") })
        {
            string path = Path.Combine(folder, candidate);
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException($"{Path.Combine(folder, name)}[.gz] not found; point to the folder holding the MNIST IDX files.", Path.Combine(folder, name));
    }

    /// <summary>Reads an IDX3 image file: pixels, count, rows, columns.</summary>
    public static (byte[] Pixels, int Count, int Rows, int Columns) ReadImages(string path)
    {
        using var file = File.OpenRead(path);
        return ReadImages(path, file);
    }

    private static (byte[] Pixels, int Count, int Rows, int Columns) ReadImages(string path, Stream file)
    {
        var data = ReadAll(path, file);
        Expect(path, data, 2051, "an IDX3 image file", 16);
        int count = Dimension(path, data, 4), rows = Dimension(path, data, 8), columns = Dimension(path, data, 12);
        long expected;
        try { expected = checked(16 + (long)count * rows * columns); }
        catch (OverflowException) { throw new DataFormatException(path, 4, $"dimensions {count} x {rows} x {columns} are too large for an image file"); }
        if (data.Length < expected)
            throw new DataFormatException(path, data.Length, $"truncated: the header promises {count} images of {rows}x{columns} ({expected} bytes) but the file ends here");
        if (data.Length > expected)
            throw new DataFormatException(path, expected, $"{data.Length - expected} bytes follow the {count} images the header promises");
        return (data.AsSpan(16).ToArray(), count, rows, columns);
    }

    /// <summary>Reads an IDX1 label file.</summary>
    public static byte[] ReadLabels(string path)
    {
        using var file = File.OpenRead(path);
        return ReadLabels(path, file);
    }

    private static byte[] ReadLabels(string path, Stream file)
    {
        var data = ReadAll(path, file);
        Expect(path, data, 2049, "an IDX1 label file", 8);
        int count = Dimension(path, data, 4);
        if (data.Length < 8L + count)
            throw new DataFormatException(path, data.Length, $"truncated: the header promises {count} labels but the file ends here");
        if (data.Length > 8L + count)
            throw new DataFormatException(path, 8L + count, $"{data.Length - 8L - count} bytes follow the {count} labels the header promises");
        return data.AsSpan(8).ToArray();
    }

    private static void Expect(string path, byte[] data, int magic, string what, int headerBytes)
    {
        if (data.Length < headerBytes)
            throw new DataFormatException(path, data.Length, $"truncated: {data.Length} bytes, shorter than the {headerBytes}-byte header of {what}");
        int actual = BinaryPrimitives.ReadInt32BigEndian(data);
        if (actual != magic)
            throw new DataFormatException(path, 0, $"magic number {actual} (0x{actual:X8}) is not {magic}: this is not {what}");
    }

    private static int Dimension(string path, byte[] data, int offset)
    {
        int value = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(offset));
        if (value < 0) throw new DataFormatException(path, offset, $"dimension {value} is negative");
        return value;
    }

    /// <summary>The file's bytes, through gzip when it starts with gzip's magic; at most 1 GiB.</summary>
    private static byte[] ReadAll(string path, Stream source)
    {
        // Buffered so that the gzip check can look ahead on streams that do not seek (embedded resources may not).
        var file = new BufferedStream(source);
        var head = new byte[2];
        int got = 0;
        while (got < 2)
        {
            int n = file.Read(head, got, 2 - got);
            if (n == 0) break;
            got += n;
        }
        bool gzip = got == 2 && head[0] == 0x1f && head[1] == 0x8b;
        Stream rest = new PrefixedStream(head.AsSpan(0, got).ToArray(), file);
        Stream stream = gzip ? new GZipStream(rest, CompressionMode.Decompress) : rest;
        using var buffer = new MemoryStream();
        try
        {
            var chunk = new byte[1 << 16];
            int read;
            while ((read = stream.Read(chunk)) > 0)
            {
                buffer.Write(chunk, 0, read);
                if (buffer.Length > 1L << 30) throw new DataFormatException(path, buffer.Length, "larger than 1 GiB decompressed; not an MNIST file");
            }
        }
        catch (InvalidDataException error)
        {
            throw new DataFormatException(path, buffer.Length, $"the gzip stream is corrupt ({error.Message})");
        }
        finally
        {
            if (stream != rest) stream.Dispose();
        }
        return buffer.ToArray();
    }

    /// <summary>A few bytes already read, then the rest of a stream.</summary>
    private sealed class PrefixedStream(byte[] prefix, Stream rest) : Stream
    {
        private int _at;
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_at < prefix.Length)
            {
                int n = Math.Min(count, prefix.Length - _at);
                Array.Copy(prefix, _at, buffer, offset, n);
                _at += n;
                return n;
            }
            return rest.Read(buffer, offset, count);
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
