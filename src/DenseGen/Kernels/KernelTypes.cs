using ILGPU;

namespace DenseGen.Kernels;

/// <summary>
/// A convolution's shapes. The input is channels [0, InChannels) of a buffer [Batch, InStride, InSize, InSize]; the
/// output goes to channels [OutOffset, OutOffset + OutChannels) of a buffer [Batch, OutStride, OutSize, OutSize].
/// This is how a dense layer reads the first c_l channels of its block's buffer and appends its k channels.
/// </summary>
internal struct ConvShape
{
    public int Batch, InChannels, InStride, InSize, OutChannels, OutStride, OutOffset, OutSize, Kernel, Stride, Padding;

    public readonly int OutputElements => Batch * OutChannels * OutSize * OutSize;
    public readonly int InputElements => Batch * InChannels * InSize * InSize;
    public readonly int WeightElements => OutChannels * InChannels * Kernel * Kernel;

    public readonly int InputIndex(int n, int c, int y, int x) => ((n * InStride + c) * InSize + y) * InSize + x;
    public readonly int OutputIndex(int n, int c, int y, int x) => ((n * OutStride + OutOffset + c) * OutSize + y) * OutSize + x;
    public readonly int WeightIndex(int co, int ci, int ky, int kx) => ((co * InChannels + ci) * Kernel + ky) * Kernel + kx;

    /// <summary>The input's channels [0, InChannels) as a range (what a backward through BN finishes).</summary>
    public readonly ChannelRange InputLayout => new() { Batch = Batch, Stride = InStride, Count = InChannels, Size = InSize };
}

/// <summary>
/// BN-ReLU applied while loading an input channel c: relu(x * Scale[c] + Shift[c]). Scale and Shift fold gamma,
/// beta and the mean and variance in use (batch statistics in training, running statistics in evaluation).
/// </summary>
internal struct Prologue
{
    public ArrayView<float> Scale, Shift;
    public int Enabled;

    public readonly float Apply(int channel, float x)
    {
        if (Enabled == 0) return x;
        float y = x * Scale[channel] + Shift[channel];
        return y > 0f ? y : 0f;
    }
}

/// <summary>
/// What a consumer of a BN'd tensor needs for the backward of BN-ReLU with shared batch statistics (DESIGN §4.5):
/// the channel's Mean and InvStd, the consumer's Gamma, the accumulators Grad (G = sum over consumers of
/// gamma * dA, same layout as the value buffer), S1 and S2 (per channel), and the consumer's DGamma and DBeta.
/// </summary>
internal struct BatchNormBackward
{
    public ArrayView<float> Gamma, Mean, InvStd, Grad, S1, S2, DGamma, DBeta;

    /// <summary>
    /// 1 when this consumer is the tensor's first (the bottleneck's only consumer is the 3x3 conv): Grad, S1 and S2 are
    /// written, not added to, and need no zeroing launches before. Honoured by the conv backward kernels (every
    /// version, and the host's); pooling backward always accumulates.
    /// </summary>
    public int Overwrite;

    /// <summary>
    /// How many of the launch's last channels this consumer is the last to read in the backward's order (a dense layer's
    /// new channels read last by the next layer, a block's input by its first layer, the bottleneck by its 3x3 conv, a
    /// block's last layer by the transition or norm5, the stem's conv by the max pool): once their sums are in, the same
    /// launch turns their Grad into the producing conv's output gradient, dx = invstd / M * (M * G - S1 - xhat * S2)
    /// (DESIGN §4.5), so that apply costs no launch of its own. Their S1 and S2 are then unspecified (the GPU kernels do
    /// not write them; nothing reads them again). 0: none; at most the channels the launch reads. Honoured by every conv
    /// and pooling backward through BN, on every backend.
    /// </summary>
    public int FinalizeCount;
}

/// <summary>
/// Where a conv's training forward leaves the batch statistics of the channels it writes: Mean, Variance (biased) and
/// InvStd = 1 / sqrt(Variance + Epsilon), each indexed by the output buffer's channel (OutOffset + c); and the BNs that
/// will read those channels, whose scale, shift and running statistics the same launch writes (<see cref="Fold"/>).
/// </summary>
internal struct BatchStatistics
{
    public ArrayView<float> Mean, Variance, InvStd;
    public float Epsilon;
    public BatchNormFold Fold;
}

/// <summary>
/// The training-mode BNs that consume a tensor's channels (every later layer's first BN and the block's closing BN
/// read each channel of a dense block; a bottleneck's output has one), folded where the channels' statistics are
/// finished: per consumer and channel, scale = gamma * invstd and shift = beta - mean * scale into the consumer's
/// prologue, and PyTorch's running-statistics update (momentum, unbiased variance). One launch per BN fewer in every
/// forward: a channel's statistics never change after its producer, and each consumer's gamma and beta not within a
/// step. Consumers: <see cref="Count"/> entries of 4 ints, the offsets of the consumer's gamma and beta in
/// <see cref="Parameters"/> and of its running mean and variance in <see cref="Running"/> (its scale and shift sit at
/// the same offsets in <see cref="ScaleShift"/>); a consumer's channel c is the tensor's channel c (a dense block's BNs
/// read a prefix of its channels). Count 0: nothing folded (evaluation, kernel tests).
/// </summary>
internal struct BatchNormFold
{
    public ArrayView<int> Consumers;
    public ArrayView<float> Parameters, Running, ScaleShift;
    public int Count;
    public float Momentum, Unbias;
}

/// <summary>A channel range [Offset, Offset + Count) of a buffer [Batch, Stride, Size, Size].</summary>
internal struct ChannelRange
{
    public int Batch, Stride, Offset, Count, Size;

    public readonly int Elements => Batch * Count * Size * Size;
    public readonly int PerChannel => Batch * Size * Size;

    /// <summary>Buffer index of the e-th element of channel c (e runs over n, y, x).</summary>
    public readonly int Index(int c, int e)
    {
        int area = Size * Size;
        int n = e / area;
        return (n * Stride + Offset + c) * area + e % area;
    }
}

/// <summary>Shapes of a pooling layer: input [Batch, InStride, InSize, InSize] channels [0, Channels).</summary>
internal struct PoolShape
{
    public int Batch, Channels, InStride, InSize, OutStride, OutOffset, OutSize;

    public readonly int InputIndex(int n, int c, int y, int x) => ((n * InStride + c) * InSize + y) * InSize + x;
    public readonly int OutputIndex(int n, int c, int y, int x) => ((n * OutStride + OutOffset + c) * OutSize + y) * OutSize + x;

    /// <summary>The input's channels [0, Channels) as a range (what a backward through BN finishes).</summary>
    public readonly ChannelRange InputLayout => new() { Batch = Batch, Stride = InStride, Count = Channels, Size = InSize };
}
