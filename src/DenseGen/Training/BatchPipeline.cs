using System;
using System.Threading.Tasks;
using DenseGen.Data;

namespace DenseGen.Training;

/// <summary>
/// Prepares training batches on CPU threads while the device computes: two buffers, the next batch is normalised,
/// augmented and labelled in the background while the current one trains (double buffering). Every random choice
/// of a batch comes from a generator seeded by (seed, epoch, step), so the batches are the same whatever the timing,
/// and a run resumed at epoch e sees the batches the uninterrupted run saw.
/// </summary>
public sealed class BatchPipeline
{
    private readonly ImageSet _set;
    private readonly Normalization _normalization;
    private readonly float[] _zero;
    private readonly int _batch, _perImage;
    private readonly bool _augment;
    private readonly Buffers[] _buffers;

    /// <summary>One prepared batch: normalised images [batch, C, H, W] and labels.</summary>
    public sealed record Buffers(float[] Images, int[] Labels, float[] Plain);

    /// <summary>Creates a pipeline over <paramref name="set"/> with batches of <paramref name="batch"/>.</summary>
    public BatchPipeline(ImageSet set, int batch, Normalization normalization, bool augment)
    {
        _set = set;
        _batch = batch;
        _normalization = normalization;
        _augment = augment;
        _perImage = set.Channels * set.Size * set.Size;
        _zero = new float[set.Channels];
        for (int c = 0; c < set.Channels; c++) _zero[c] = -normalization.Mean[c] / normalization.Std[c]; // black after normalising
        _buffers = [Create(), Create()];
    }

    private Buffers Create() => new(new float[_batch * _perImage], new int[_batch], new float[_perImage]);

    /// <summary>Full batches per epoch (a last partial batch is dropped, as PyTorch's drop_last).</summary>
    public int StepsPerEpoch => _set.Count / _batch;

    /// <summary>The image order of (1-based) <paramref name="epoch"/>: a permutation seeded by (seed, epoch).</summary>
    public int[] Order(int seed, int epoch)
    {
        var order = new int[_set.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        new Random(Mix(seed, epoch, -1)).Shuffle(order);
        return order;
    }

    /// <summary>
    /// Runs <paramref name="train"/> on every batch of the epoch in order, preparing batch s + 1 on a worker thread
    /// while batch s trains.
    /// </summary>
    public void RunEpoch(int seed, int epoch, Action<int, Buffers> train)
    {
        var order = Order(seed, epoch);
        int steps = StepsPerEpoch;
        var next = Task.Run(() => Prepare(order, seed, epoch, 0, _buffers[0]));
        for (int s = 0; s < steps; s++)
        {
            var ready = next.GetAwaiter().GetResult();
            if (s + 1 < steps)
            {
                int following = s + 1;
                next = Task.Run(() => Prepare(order, seed, epoch, following, _buffers[following % 2]));
            }
            train(s, ready);
        }
    }

    /// <summary>Fills <paramref name="into"/> with batch <paramref name="step"/> of the epoch.</summary>
    public Buffers Prepare(int[] order, int seed, int epoch, int step, Buffers into)
    {
        var random = new Random(Mix(seed, epoch, step));
        for (int i = 0; i < _batch; i++)
        {
            int index = order[step * _batch + i];
            if (_augment)
            {
                Normalize(_set, index, _normalization, into.Plain, 0);
                Augmentation.PadCropFlip(into.Plain, into.Images.AsSpan(i * _perImage, _perImage), _set.Channels, _set.Size, _zero, random);
            }
            else Normalize(_set, index, _normalization, into.Images, i * _perImage);
            into.Labels[i] = _set.Labels[index];
        }
        return into;
    }

    /// <summary>Writes image <paramref name="index"/> of <paramref name="set"/>, normalised, at <paramref name="offset"/>.</summary>
    public static void Normalize(ImageSet set, int index, Normalization normalization, float[] target, int offset)
    {
        int area = set.Size * set.Size;
        for (int c = 0; c < set.Channels; c++)
        {
            int from = (index * set.Channels + c) * area, to = offset + c * area;
            float scale = 1f / (255f * normalization.Std[c]), shift = -normalization.Mean[c] / normalization.Std[c];
            for (int p = 0; p < area; p++) target[to + p] = set.Pixels[from + p] * scale + shift;
        }
    }

    /// <summary>A seed for (seed, epoch, step): SplitMix64's finaliser over the three.</summary>
    public static int Mix(int seed, int epoch, int step)
    {
        ulong z = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)epoch << 32 ^ (uint)step;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (int)(z ^ (z >> 31));
    }
}
