using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using DenseGen.Data;
using DenseGen.Execution;
using DenseGen.IO;
using DenseGen.Training;
using Xunit;

namespace DenseGen.Tests;

/// <summary>
/// Checkpoints: a run killed while writing one (simulated: the write fails part-way, as a killed process's would
/// stop) leaves the previous checkpoint intact, and resuming from it reproduces the uninterrupted run exactly.
/// </summary>
public sealed class CheckpointTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("densegen-checkpoint-").FullName;

    private static ImageSet Synthetic(int count, int seed)
    {
        var model = SmallDropout.Description;
        var random = new Random(seed);
        var pixels = new byte[count * model.InputChannels * model.InputSize * model.InputSize];
        random.NextBytes(pixels);
        var labels = Enumerable.Range(0, count).Select(_ => (byte)random.Next(model.Classes)).ToArray();
        return new ImageSet(pixels, labels, model.InputChannels, model.InputSize, model.Classes, $"synthetic-{seed}");
    }

    private (List<float> Losses, float[] Parameters, IReadOnlyList<EpochReport> History) Train(TrainingOptions options, Func<Stream, Stream>? failSecondSave = null)
    {
        using var session = new DenseNetSession(SmallDropout.Description, TestDevice.Instance, 8);
        var trainer = new Trainer(session, Synthetic(96, 1), Synthetic(20, 2));
        var losses = new List<float>();
        int saves = 0;
        try
        {
            var history = trainer.Run(options, onEpoch: _ =>
            {
                saves++;
                if (failSecondSave is not null && saves == 1) SafeTensorsFile.WriteInterceptor = failSecondSave;
            }, onStep: (_, _, loss) => losses.Add(loss));
            return (losses, session.GetParameters(), history);
        }
        finally { SafeTensorsFile.WriteInterceptor = null; }
    }

    [Fact]
    public void A_run_killed_while_writing_a_checkpoint_resumes_exactly()
    {
        string path = Path.Combine(_folder, "checkpoint.safetensors");
        var options = new TrainingOptions(3, LearningRate: 0.05f, Seed: 9, Augment: true, CheckpointPath: Path.Combine(_folder, "uninterrupted.safetensors"));
        var uninterrupted = Train(options);

        // The second checkpoint's write dies after 1,000 bytes.
        var killed = options with { CheckpointPath = path };
        byte[]? afterEpoch1 = null;
        var error = Assert.Throws<IOException>(() => Train(killed, stream =>
        {
            afterEpoch1 = File.ReadAllBytes(path);
            return new FailingStream(stream, 1000);
        }));
        Assert.Contains("simulated kill", error.Message);
        Assert.NotNull(afterEpoch1);
        Assert.Equal(afterEpoch1, File.ReadAllBytes(path)); // the previous checkpoint, byte for byte
        foreach (var stale in Directory.GetFiles(_folder, "checkpoint.safetensors.tmp-*")) File.Delete(stale); // what the killed process left

        var resumed = Train(killed with { Resume = true });
        int stepsPerEpoch = 96 / 8;
        Assert.Equal(uninterrupted.Losses.Skip(stepsPerEpoch), resumed.Losses); // epochs 2 and 3, bit for bit
        Assert.Equal(uninterrupted.Parameters, resumed.Parameters);
        Assert.Equal(uninterrupted.History.Select(r => r.TestLoss), resumed.History.Select(r => r.TestLoss));
        Assert.Equal(3, resumed.History.Count);
    }

    [Fact]
    public void A_checkpoint_of_another_model_or_a_plain_weights_file_is_refused_with_the_reason()
    {
        using var session = new DenseNetSession(SmallDropout.Description, TestDevice.Instance, 2);
        session.InitializeParameters(0);
        string weights = Path.Combine(_folder, "weights.safetensors");
        ModelWeights.Save(session, weights);
        var error = Assert.Throws<DataFormatException>(() => Checkpoint.Load(weights, session));
        Assert.Contains("not a DenseGen checkpoint", error.Message);

        string checkpoint = Path.Combine(_folder, "plain.safetensors");
        using var other = new DenseNetSession(SmallPlain.Description, TestDevice.Instance, 2);
        other.InitializeParameters(0);
        Checkpoint.Save(checkpoint, other, new Checkpoint(0, 0, []));
        error = Assert.Throws<DataFormatException>(() => Checkpoint.Load(checkpoint, session));
        Assert.Contains(SmallPlain.Description.Name, error.Message);
    }

    /// <summary>Writes through until <paramref name="limit"/> bytes, then fails as a killed process would stop.</summary>
    private sealed class FailingStream(Stream inner, long limit) : Stream
    {
        private long _written;
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_written + buffer.Length > limit)
            {
                inner.Write(buffer[..(int)(limit - _written)]);
                throw new IOException("simulated kill while writing the checkpoint");
            }
            inner.Write(buffer);
            _written += buffer.Length;
        }
        public override void Flush() => inner.Flush();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _written;
        public override long Position { get => _written; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
