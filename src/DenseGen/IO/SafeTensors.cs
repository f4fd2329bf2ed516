using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using DenseGen.Data;

namespace DenseGen.IO;

/// <summary>Element types of the safetensors format that DenseGen reads (writes: F32 and I64).</summary>
public enum SafeTensorsType
{
    /// <summary>IEEE float32.</summary>
    F32,
    /// <summary>IEEE float16, converted on load.</summary>
    F16,
    /// <summary>bfloat16, converted on load.</summary>
    BF16,
    /// <summary>IEEE float64, converted on load.</summary>
    F64,
    /// <summary>int64 (num_batches_tracked).</summary>
    I64,
}

/// <summary>One tensor's entry in a safetensors header: type, shape, and bytes [Begin, End) of the data section.</summary>
public sealed record SafeTensorEntry(string Name, SafeTensorsType Type, IReadOnlyList<long> Shape, long Begin, long End)
{
    /// <summary>Number of elements (1 for a scalar).</summary>
    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// The safetensors format (an 8-byte little-endian header length, a JSON header, then the raw data), read by a
/// parser that trusts nothing: the header length is bounded by the file, the JSON is validated entry by entry,
/// types and shapes must agree with the byte ranges, ranges must lie inside the data and must not overlap. Nothing
/// is allocated in proportion to what the header claims before the file is known to hold it.
/// </summary>
public sealed class SafeTensorsFile
{
    /// <summary>The largest header DenseGen accepts (the format's own limit is 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly Dictionary<string, SafeTensorEntry> _entries;
    private readonly long _dataStart;

    private SafeTensorsFile(string path, Dictionary<string, SafeTensorEntry> entries, IReadOnlyDictionary<string, string> metadata, long dataStart)
    {
        Path = path;
        _entries = entries;
        Metadata = metadata;
        _dataStart = dataStart;
    }

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>The header's <c>__metadata__</c> (string to string).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensors, by name.</summary>
    public IReadOnlyDictionary<string, SafeTensorEntry> Tensors => _entries;

    /// <summary>Reads and validates the header of <paramref name="path"/>.</summary>
    /// <exception cref="DataFormatException">The file is not valid safetensors; the message names the tensor at fault.</exception>
    public static SafeTensorsFile Open(string path)
    {
        using var file = File.OpenRead(path);
        long length = file.Length;
        if (length < 8) throw new DataFormatException(path, 0, $"only {length} bytes: a safetensors file starts with an 8-byte header length");
        Span<byte> prefix = stackalloc byte[8];
        file.ReadExactly(prefix);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)Math.Min(MaxHeaderBytes, length - 8))
            throw new DataFormatException(path, 0, $"the header length {headerLength} exceeds the file ({length} bytes) or the 100 MB limit");
        var header = new byte[headerLength];
        file.ReadExactly(header);
        long dataStart = 8 + (long)headerLength, dataLength = length - dataStart;

        JsonDocument json;
        try { json = JsonDocument.Parse(header); }
        catch (JsonException error) { throw new DataFormatException(path, 8, $"the header is not JSON ({error.Message})"); }
        using (json)
        {
            if (json.RootElement.ValueKind != JsonValueKind.Object) throw new DataFormatException(path, 8, "the header is not a JSON object");
            var entries = new Dictionary<string, SafeTensorEntry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in json.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    if (property.Value.ValueKind != JsonValueKind.Object) throw new DataFormatException(path, 8, "__metadata__ is not an object");
                    foreach (var item in property.Value.EnumerateObject())
                        metadata[item.Name] = item.Value.ValueKind == JsonValueKind.String ? item.Value.GetString()! : throw new DataFormatException(path, 8, $"__metadata__ value '{item.Name}' is not a string");
                    continue;
                }
                entries[property.Name] = ParseEntry(path, property.Name, property.Value, dataLength);
            }
            // Ranges must not overlap (empty tensors take no bytes).
            SafeTensorEntry? previous = null;
            foreach (var entry in entries.Values.Where(e => e.End > e.Begin).OrderBy(e => e.Begin))
            {
                if (previous is not null && entry.Begin < previous.End)
                    throw new DataFormatException(path, dataStart + entry.Begin, $"tensor '{entry.Name}' overlaps '{previous.Name}' (bytes {entry.Begin}..{entry.End} and {previous.Begin}..{previous.End})");
                previous = entry;
            }
            return new SafeTensorsFile(path, entries, metadata, dataStart);
        }
    }

    private static SafeTensorEntry ParseEntry(string path, string name, JsonElement value, long dataLength)
    {
        DataFormatException Bad(string problem) => new(path, 8, $"tensor '{name}': {problem}");
        if (value.ValueKind != JsonValueKind.Object) throw Bad("the entry is not an object");
        if (!value.TryGetProperty("dtype", out var dtype) || dtype.ValueKind != JsonValueKind.String) throw Bad("no dtype");
        SafeTensorsType type = dtype.GetString() switch
        {
            "F32" => SafeTensorsType.F32, "F16" => SafeTensorsType.F16, "BF16" => SafeTensorsType.BF16,
            "F64" => SafeTensorsType.F64, "I64" => SafeTensorsType.I64,
            var other => throw Bad($"dtype {other} is not supported (F32, F16, BF16, F64, I64)"),
        };
        if (!value.TryGetProperty("shape", out var shapeJson) || shapeJson.ValueKind != JsonValueKind.Array) throw Bad("no shape");
        var shape = new List<long>();
        long elements = 1;
        foreach (var dimension in shapeJson.EnumerateArray())
        {
            if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt64(out long d) || d < 0) throw Bad($"shape dimension {dimension} is not a non-negative integer");
            shape.Add(d);
            try { elements = checked(elements * d); } catch (OverflowException) { throw Bad("the shape has more elements than 64 bits count"); }
        }
        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw Bad("data_offsets is not a pair [begin, end]");
        if (!offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw Bad($"data_offsets {offsets} is not a range");
        if (end > dataLength) throw Bad($"data_offsets end {end} lies past the end of the data ({dataLength} bytes): the file is truncated or the header is wrong");
        long expected;
        try { expected = checked(elements * Size(type)); } catch (OverflowException) { throw Bad("the shape is too large"); }
        if (end - begin != expected) throw Bad($"{end - begin} bytes do not hold {elements} {type} values ({expected} bytes)");
        return new SafeTensorEntry(name, type, shape, begin, end);
    }

    /// <summary>Bytes per element.</summary>
    public static int Size(SafeTensorsType type) => type switch
    {
        SafeTensorsType.F16 or SafeTensorsType.BF16 => 2,
        SafeTensorsType.F32 => 4,
        _ => 8,
    };

    /// <summary>A tensor as float32, converting F16, BF16 and F64 (I64 is converted too, for counters).</summary>
    public float[] ReadFloat32(string name)
    {
        var entry = _entries.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"{Path} has no tensor '{name}'.");
        var bytes = ReadBytes(entry);
        var result = new float[entry.Elements];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = entry.Type switch
            {
                SafeTensorsType.F32 => BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(4 * i)),
                SafeTensorsType.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(bytes.AsSpan(2 * i)),
                SafeTensorsType.BF16 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i)) << 16),
                SafeTensorsType.F64 => (float)BinaryPrimitives.ReadDoubleLittleEndian(bytes.AsSpan(8 * i)),
                _ => BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8 * i)),
            };
        }
        return result;
    }

    /// <summary>An I64 tensor (e.g. num_batches_tracked).</summary>
    public long[] ReadInt64(string name)
    {
        var entry = _entries[name];
        if (entry.Type != SafeTensorsType.I64) throw new DataFormatException(Path, _dataStart + entry.Begin, $"tensor '{name}' is {entry.Type}, not I64");
        var bytes = ReadBytes(entry);
        return Enumerable.Range(0, (int)entry.Elements).Select(i => BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8 * i))).ToArray();
    }

    private byte[] ReadBytes(SafeTensorEntry entry)
    {
        if (entry.End - entry.Begin > int.MaxValue) throw new DataFormatException(Path, _dataStart + entry.Begin, $"tensor '{entry.Name}' is larger than 2 GiB");
        using var file = File.OpenRead(Path);
        if (_dataStart + entry.End > file.Length) throw new DataFormatException(Path, file.Length, $"tensor '{entry.Name}' lies past the end of the file: it was truncated");
        file.Position = _dataStart + entry.Begin;
        var bytes = new byte[entry.End - entry.Begin];
        file.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>
    /// Writes tensors (F32, or I64 for <c>long[]</c>) atomically: to a temporary file beside the target, flushed to
    /// disk, then renamed over it, so a crash mid-write leaves the previous file intact.
    /// </summary>
    public static void Write(string path, IEnumerable<(string Name, IReadOnlyList<int> Shape, Array Values)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var (name, shape, values) in list)
        {
            var (type, size) = values switch { float[] => ("F32", 4), long[] => ("I64", 8), _ => throw new ArgumentException($"{name}: only float[] and long[] are written") };
            long bytes = (long)values.Length * size;
            header[name] = new { dtype = type, shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padding = (8 - json.Length % 8) % 8; // the format pads the header with spaces to 8-byte alignment
        var headerBytes = json.Concat(Enumerable.Repeat((byte)' ', padding)).ToArray();

        string temporary = path + ".tmp-" + Environment.ProcessId;
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            Stream file = WriteInterceptor?.Invoke(stream) ?? stream;
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)headerBytes.Length);
            file.Write(prefix);
            file.Write(headerBytes);
            foreach (var (_, _, values) in list)
            {
                var raw = values is float[] f ? System.Runtime.InteropServices.MemoryMarshal.AsBytes(f.AsSpan()).ToArray()
                                              : System.Runtime.InteropServices.MemoryMarshal.AsBytes(((long[])values).AsSpan()).ToArray();
                if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors is little-endian");
                file.Write(raw);
            }
            file.Flush();
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>
    /// Tests only: wraps the temporary file's stream, e.g. to fail part-way as a killed process would. Per thread, so
    /// tests running side by side do not see each other's.
    /// </summary>
    [ThreadStatic] internal static Func<Stream, Stream>? WriteInterceptor;
}
