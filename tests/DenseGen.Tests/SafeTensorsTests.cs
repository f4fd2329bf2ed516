using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using DenseGen.Data;
using DenseGen.IO;
using Xunit;

namespace DenseGen.Tests;

/// <summary>safetensors: round trips, torchvision's DenseNet-121 names from an independent writer, crafted and random files.</summary>
public sealed class SafeTensorsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("densegen-st-").FullName;

    /// <summary>A minimal safetensors writer written from the format's description, independent of DenseGen's.</summary>
    private static byte[] Independent(IEnumerable<(string Name, string Dtype, int[] Shape, byte[] Data)> tensors, string? rawHeader = null)
    {
        var data = new MemoryStream();
        var entries = new List<string>();
        foreach (var (name, dtype, shape, bytes) in tensors)
        {
            entries.Add($"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{data.Length},{data.Length + bytes.Length}]}}");
            data.Write(bytes);
        }
        var header = Encoding.UTF8.GetBytes(rawHeader ?? "{" + string.Join(",", entries) + "}");
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        data.ToArray().CopyTo(file, 8 + header.Length);
        return file;
    }

    private static byte[] Floats(IEnumerable<float> values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    private string Path(string name) => System.IO.Path.Combine(_folder, name);

    [Fact]
    public void Save_then_load_is_bit_identical()
    {
        using var a = SmallBC.CreateSession(TestDevice.Instance, 2);
        var random = new Random(1);
        a.SetParameters(Enumerable.Range(0, (int)SmallBC.ParameterCount).Select(_ => (float)random.NextDouble()).ToArray());
        a.SetRunningStatistics(Enumerable.Range(0, (int)SmallBC.RunningStatisticsCount).Select(_ => (float)random.NextDouble()).ToArray());
        a.BatchesTracked[3] = 12345;
        ModelWeights.Save(a, Path("a.safetensors"));
        using var b = SmallBC.CreateSession(TestDevice.Instance, 2);
        ModelWeights.Load(b, Path("a.safetensors"));
        Assert.Equal(a.GetParameters(), b.GetParameters());
        Assert.Equal(a.GetRunningStatistics(), b.GetRunningStatistics());
        Assert.Equal(a.BatchesTracked, b.BatchesTracked);
    }

    [Fact]
    public void Torchvision_densenet121_names_written_independently_load_into_the_preset()
    {
        // Shapes from the architecture (k = 32, bn_size 4, blocks 6/12/24/16, 64 stem channels), not from DenseGen.
        var tensors = new List<(string, string, int[], byte[])>();
        var expected = new Dictionary<string, float[]>();
        var random = new Random(2);
        void Add(string name, params int[] shape)
        {
            var values = Enumerable.Range(0, shape.Aggregate(1, (x, y) => x * y)).Select(_ => (float)Math.Round(random.NextDouble() - 0.5, 3)).ToArray();
            expected[name] = values;
            bool bf16 = name.EndsWith("running_mean", StringComparison.Ordinal); // exercise a conversion: bfloat16 keeps the top 16 bits
            if (bf16)
            {
                for (int i = 0; i < values.Length; i++) values[i] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(values[i]) & unchecked((int)0xFFFF0000));
                tensors.Add((name, "BF16", shape, values.SelectMany(v => BitConverter.GetBytes((ushort)(BitConverter.SingleToInt32Bits(v) >> 16))).ToArray()));
            }
            else tensors.Add((name, "F32", shape, Floats(values)));
        }
        void Norm(string name, int c) { Add($"{name}.weight", c); Add($"{name}.bias", c); Add($"{name}.running_mean", c); Add($"{name}.running_var", c); }
        Add("features.conv0.weight", 64, 3, 7, 7);
        Norm("features.norm0", 64);
        int channels = 64;
        int[] blocks = [6, 12, 24, 16];
        for (int b = 0; b < blocks.Length; b++)
        {
            for (int l = 0; l < blocks[b]; l++)
            {
                string layer = $"features.denseblock{b + 1}.denselayer{l + 1}";
                Norm($"{layer}.norm1", channels + 32 * l);
                Add($"{layer}.conv1.weight", 128, channels + 32 * l, 1, 1);
                Norm($"{layer}.norm2", 128);
                Add($"{layer}.conv2.weight", 32, 128, 3, 3);
            }
            channels += 32 * blocks[b];
            if (b == blocks.Length - 1) break;
            Norm($"features.transition{b + 1}.norm", channels);
            Add($"features.transition{b + 1}.conv.weight", channels / 2, channels, 1, 1);
            channels /= 2;
        }
        Norm("features.norm5", channels);
        Add("classifier.weight", 1000, channels);
        Add("classifier.bias", 1000);
        File.WriteAllBytes(Path("densenet121.safetensors"), Independent(tensors));

        using var session = DenseNet121.CreateSession(TestDevice.Instance, 1);
        ModelWeights.Load(session, Path("densenet121.safetensors")); // num_batches_tracked absent, as in torchvision's hub files
        var parameters = session.GetParameters();
        var running = session.GetRunningStatistics();
        foreach (var t in DenseNet121.Layout.Tensors.Where(t => expected.ContainsKey(t.Name)))
        {
            var actual = (t.Storage == Model.TensorStorage.Parameters ? parameters : running).AsSpan((int)t.Offset, (int)t.Length).ToArray();
            Assert.True(expected[t.Name].SequenceEqual(actual), $"{t.Name} differs");
        }
    }

    [Theory]
    [InlineData("huge header length", "exceeds the file")]
    [InlineData("offsets past the end", "past the end of the data")]
    [InlineData("overlapping tensors", "overlaps")]
    [InlineData("wrong dtype", "dtype I8 is not supported")]
    [InlineData("truncated data", "past the end of the data")]
    [InlineData("not JSON", "not JSON")]
    [InlineData("bytes do not match the shape", "do not hold")]
    public void Crafted_files_are_rejected_naming_the_tensor(string kind, string expected)
    {
        var a = Floats([1, 2, 3, 4]);
        byte[] file = kind switch
        {
            "huge header length" => BitConverter.GetBytes(ulong.MaxValue / 2).Concat(new byte[32]).ToArray(),
            "offsets past the end" => Independent([], "{\"w\":{\"dtype\":\"F32\",\"shape\":[1000000000],\"data_offsets\":[0,4000000000]}}"),
            "overlapping tensors" => Independent([("w", "F32", [4], a)], "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}")
                .Concat(new byte[0]).ToArray(),
            "wrong dtype" => Independent([("w", "I8", [16], a)]),
            "truncated data" => Independent([("w", "F32", [4], a)])[..^3],
            "not JSON" => Independent([], "{\"w\": [oops"),
            _ => Independent([("w", "F32", [5], a)]),
        };
        if (kind == "overlapping tensors")
        {
            // The raw header above refers to 16 data bytes: append them.
            file = file.Concat(a).ToArray();
        }
        File.WriteAllBytes(Path("bad.safetensors"), file);
        var error = Assert.Throws<DataFormatException>(() => SafeTensorsFile.Open(Path("bad.safetensors")));
        Assert.Contains(expected, error.Message);
        Assert.Contains("bad.safetensors", error.Message);
    }

    [Fact]
    public void A_file_for_another_model_lists_every_problem_at_once()
    {
        using var big = SmallBC.CreateSession(TestDevice.Instance, 1);
        ModelWeights.Save(big, Path("smallbc.safetensors"));
        using var other = SmallPlain.CreateSession(TestDevice.Instance, 1);
        var error = Assert.Throws<DataFormatException>(() => ModelWeights.Load(other, Path("smallbc.safetensors")));
        Assert.Contains("unexpected", error.Message);
        Assert.Contains("features.denseblock1.denselayer1.conv2.weight", error.Message); // SmallPlain has no bottleneck
        Assert.Contains("has shape", error.Message);
    }

    [Fact]
    public void A_failed_or_interrupted_write_leaves_the_previous_file_intact()
    {
        using var session = SmallBC.CreateSession(TestDevice.Instance, 1);
        ModelWeights.Save(session, Path("checkpoint.safetensors"));
        var before = File.ReadAllBytes(Path("checkpoint.safetensors"));
        // A write that fails validation part way writes nothing.
        Assert.Throws<ArgumentException>(() => SafeTensorsFile.Write(Path("checkpoint.safetensors"),
            [("a", [1], new float[] { 1 }), ("b", [1], new int[] { 1 })]));
        Assert.Equal(before, File.ReadAllBytes(Path("checkpoint.safetensors")));
        // A writer killed mid-write leaves only its temporary file; the checkpoint still loads.
        File.WriteAllBytes(Path("checkpoint.safetensors.tmp-99999"), before[..(before.Length / 2)]);
        using var resumed = SmallBC.CreateSession(TestDevice.Instance, 1);
        ModelWeights.Load(resumed, Path("checkpoint.safetensors"));
        Assert.Equal(session.GetParameters(), resumed.GetParameters());
    }

    [Fact]
    public void Random_bytes_and_headers_never_crash_the_parser()
    {
        var random = new Random(3);
        string[] fragments = ["{", "}", "\"w\"", ":", ",", "[", "]", "\"dtype\"", "\"F32\"", "\"BF16\"", "\"shape\"", "\"data_offsets\"", "0", "4", "-1", "1e30", "99999999999999999999", "null", "\"__metadata__\""];
        for (int i = 0; i < 3000; i++)
        {
            byte[] file;
            if (random.Next(2) == 0)
            {
                file = new byte[random.Next(0, 80)];
                random.NextBytes(file);
            }
            else
            {
                string header = string.Concat(Enumerable.Range(0, random.Next(1, 30)).Select(_ => fragments[random.Next(fragments.Length)]));
                file = Independent([], header).Concat(new byte[random.Next(0, 40)]).ToArray();
            }
            File.WriteAllBytes(Path("fuzz.safetensors"), file);
            try
            {
                var parsed = SafeTensorsFile.Open(Path("fuzz.safetensors"));
                foreach (var name in parsed.Tensors.Keys) parsed.ReadFloat32(name);
            }
            catch (DataFormatException) { }
        }
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
