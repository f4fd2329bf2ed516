using System;
using System.Collections.Generic;
using System.Linq;
using DenseGen.Kernels;
using DenseGen.Model;
using ILGPU;
using ILGPU.Runtime;

namespace DenseGen.Execution;

/// <summary>
/// Runs one planned network on one device at a fixed batch size: forward (training or evaluation), backward with
/// the shared-statistics formulation of DESIGN §4.5, and SGD. Every buffer lives in one arena laid out by the
/// <see cref="MemoryPlan"/> before the first step; nothing is allocated while training.
/// </summary>
public sealed class DenseNetSession : IDisposable
{
    internal const float Epsilon = 1e-5f, BatchNormMomentum = 0.1f;

    private readonly ComputeDevice _device;
    private readonly KernelSet _k;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _arena;
    private readonly ModelLayout _layout;
    private readonly Block[] _blocks;
    private readonly Tensor _stem;
    private readonly ArrayView<float> _bottleneckS1, _bottleneckS2;
    private readonly ArrayView<float> _images, _features, _dFeatures, _logits, _dLogits, _loss, _parameters, _gradients, _momentum, _running, _scratch;
    private readonly ArrayView<int> _labels;
    private readonly ArrayView<uint> _dropoutKey; // the training step's dropout key; empty without dropout
    private readonly ArrayView<float> _scaleShift;
    private readonly ArrayView<int> _consumers;
    // The BN table's order and group starts (MemoryPlan.ConsumersOf).
    private readonly MemoryPlan.BatchNormTable _table;
    // Why this session's steps cannot be captured as a CUDA graph (not a CUDA device), or null.
    private readonly string? _graphsUnavailable;
    private readonly int _n, _stemConvSize;
    private bool _firstStep = true;
    private CudaGraphStep? _graph;
    private bool _cudaGraphs, _graphWarm, _direct;
    private int _dropoutSeed;
    private uint _forwardCount;

    /// <summary>Lays out the arena and compiles the kernels. Parameters start at the paper's initialisation (seed 0).</summary>
    public DenseNetSession(ModelDescription model, ComputeDevice device, int batchSize)
        : this(model, device, batchSize, BottleneckMode.Store)
    {
    }

    /// <summary>
    /// As <see cref="DenseNetSession(ModelDescription, ComputeDevice, int)"/>, keeping the bottleneck outputs from the
    /// forward for the backward (<see cref="BottleneckMode.Store"/>, faster) or recomputing them (leaner).
    /// </summary>
    public DenseNetSession(ModelDescription model, ComputeDevice device, int batchSize, BottleneckMode bottlenecks)
        : this(model, device, batchSize, convolution: null, bottlenecks)
    {
    }

    /// <summary>
    /// As the public constructor, with the convolution kernels of <paramref name="convolution"/> instead of the device's
    /// choice (benchmarks compare the versions in one process).
    /// </summary>
    internal DenseNetSession(ModelDescription model, ComputeDevice device, int batchSize, ConvolutionVersion? convolution, BottleneckMode bottlenecks = BottleneckMode.Store)
        : this(model, device, batchSize, (device ?? throw new ArgumentNullException(nameof(device))).KernelsFor(convolution), bottlenecks)
    {
    }

    /// <summary>With a kernel set of <paramref name="device"/> built by the caller (tests: version 4 with a given band count on every product).</summary>
    internal DenseNetSession(ModelDescription model, ComputeDevice device, int batchSize, KernelSet kernels, BottleneckMode bottlenecks = BottleneckMode.Store)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(device);
        if (!Enum.IsDefined(bottlenecks)) throw new ArgumentOutOfRangeException(nameof(bottlenecks), bottlenecks, "Use BottleneckMode.Store or BottleneckMode.Recompute.");
        Model = model;
        _device = device;
        _layout = model.Layout;
        _n = batchSize;
        Plan = new MemoryPlan(model, batchSize, bottlenecks);
        _k = kernels;
        _arena = AllocateArena(device, Plan);
        _k.Zero(_arena.View);

        ArrayView<float> View(string name) { var (offset, length) = Plan[name]; return _arena.View.SubView(offset, length); }
        Tensor TensorOf(string prefix, bool hasValue) => new(
            hasValue ? View(prefix + ".value") : default, hasValue ? View(prefix + ".grad") : default,
            View(prefix + ".mean"), View(prefix + ".variance"), View(prefix + ".invstd"), View(prefix + ".s1"), View(prefix + ".s2"));

        _images = View("images");
        _labels = View("labels").Cast<int>();
        _scratch = View("scratch");
        _features = View("head.features");
        _dFeatures = View("head.dfeatures");
        _logits = View("head.logits");
        _dLogits = View("head.dlogits");
        _loss = View("head.loss");
        _parameters = View("parameters");
        _gradients = View("gradients");
        _momentum = View("momentum");
        _running = View("running");
        _scaleShift = View("scaleshift");
        _consumers = View("batchnorm.consumers").Cast<int>();
        _table = MemoryPlan.ConsumersOf(_layout);
        Upload(_consumers, _table.Consumers.SelectMany(norm => new[]
            { checked((int)norm.Weight.Offset), checked((int)norm.Bias.Offset), checked((int)norm.RunningMean.Offset), checked((int)norm.RunningVariance.Offset) }).ToArray());
        _dropoutKey = MemoryPlan.HasDropout(_layout) ? View("dropout.key").Cast<uint>() : default;
        _bottleneckS1 = View("bottleneck.s1");
        _bottleneckS2 = View("bottleneck.s2");
        _stem = _layout.Stem.Norm0 is null ? default : TensorOf("stem", hasValue: true);
        _stemConvSize = MemoryPlan.StemConvSize(model);

        int[] sizes = MemoryPlan.BlockSizes(model);
        _blocks = _layout.Blocks.Select((b, i) =>
        {
            int width = MemoryPlan.BottleneckWidth(b);
            string name = $"block{i + 1}.bottleneck";
            var bottlenecks = width == 0 ? default : new Bottlenecks(
                Plan.Bottlenecks == BottleneckMode.Store ? View(name + ".values") : default, View(name + ".mean"), View(name + ".variance"), View(name + ".invstd"));
            return new Block(b, sizes[i], MemoryPlan.BlockChannels(b), width, TensorOf($"block{i + 1}", true), bottlenecks);
        }).ToArray();
        BatchesTracked = new long[_layout.Tensors.Count(t => t.Role == TensorRole.BatchesTracked)];
        _graphsUnavailable = _device.Accelerator is ILGPU.Runtime.Cuda.CudaAccelerator ? null : $"the device is {_device}, and CUDA graphs need a CUDA GPU";
        // Every kernel the network's convolutions will launch compiles now, side by side, not one by one in the first step.
        _k.Prepare(Convolutions());
        if (_layout.Stem.Norm0 is not null) _k.PrepareStemPool();
        if (_dropoutKey.Length > 0) _k.PrepareDropout();
        InitializeParameters(0);
        _k.WaitForCompilation();
    }

    /// <summary>
    /// The one arena of the plan. A device without that much memory gets an error that says how much was asked, of how
    /// much the device has, and what takes less: the lean mode (with bottlenecks) or a smaller batch.
    /// </summary>
    private static MemoryBuffer1D<float, Stride1D.Dense> AllocateArena(ComputeDevice device, MemoryPlan plan)
    {
        try
        {
            return device.Accelerator.Allocate1D<float>(plan.Elements);
        }
        catch (Exception error)
        {
            double mib = plan.Bytes / 1048576.0, deviceMib = device.Accelerator.MemorySize / 1048576.0;
            string lean = plan.Bottlenecks == BottleneckMode.Store && new MemoryPlan(plan.Model, plan.BatchSize, BottleneckMode.Recompute) is var leanPlan && leanPlan.Bytes < plan.Bytes
                ? $"BottleneckMode.Recompute (--recompute-bottlenecks) needs {leanPlan.Bytes / 1048576.0:F1} MiB at this batch size; " : "";
            // ILGPU's own exceptions often carry only their type name as the message.
            string cause = error.Message.StartsWith("Exception of type", StringComparison.Ordinal) ? error.GetType().Name : $"{error.GetType().Name}: {error.Message.TrimEnd('.')}";
            throw new InvalidOperationException(
                $"{plan.Model.Name} at batch {plan.BatchSize} needs a {mib:F1} MiB arena (TrainingBytes) and {device} could not allocate it " +
                $"({deviceMib:F0} MiB in all, some of it in use; {cause}). {lean}a smaller batch needs less (the arena grows linearly with it).", error);
        }
    }

    /// <summary>Each convolution of the network, in forward order, with how its input gradient is taken.</summary>
    private IEnumerable<(ConvShape Shape, InputGradient Input)> Convolutions()
    {
        var first = _blocks[0];
        var conv0 = _layout.Stem.Conv0;
        yield return (_layout.Stem.Norm0 is null
            ? Conv(conv0, Model.InputChannels, Model.InputChannels, Model.InputSize, first.Channels, 0, first.Size)
            : Conv(conv0, Model.InputChannels, Model.InputChannels, Model.InputSize, conv0.OutputChannels, 0, _stemConvSize), InputGradient.None);
        for (int b = 0; b < _blocks.Length; b++)
        {
            var block = _blocks[b];
            foreach (var layer in block.Tensors.Layers)
            {
                if (layer.Conv2 is { } conv2)
                {
                    yield return (BottleneckConv(block, layer), InputGradient.ThroughBatchNorm);
                    yield return (GrowthConv(block, layer, conv2, block.Width, block.Width), InputGradient.ThroughBatchNorm);
                }
                else yield return (GrowthConv(block, layer, layer.Conv1, layer.InputChannels, block.Channels), InputGradient.ThroughBatchNorm);
            }
            if (b < _layout.Transitions.Count) yield return (TransitionConv(block, _blocks[b + 1], _layout.Transitions[b]), InputGradient.Plain);
        }
    }

    /// <summary>The network this session runs.</summary>
    public ModelDescription Model { get; }

    /// <summary>The arena's layout; <see cref="MemoryPlan.Bytes"/> is the device memory of a training step.</summary>
    public MemoryPlan Plan { get; }

    /// <summary>Bytes of device memory the session holds: its one arena (measured from the allocation).</summary>
    public long ArenaBytes => _arena.LengthInBytes;

    /// <summary>Images per step.</summary>
    public int BatchSize => _n;

    /// <summary>Each BatchNorm's num_batches_tracked, in state-dict order.</summary>
    public long[] BatchesTracked { get; }

    /// <summary>The device.</summary>
    public ComputeDevice Device => _device;

    /// <summary>
    /// The paper's initialisation: He normal with fan-out for convolutions (std = sqrt(2 / (k*k*out))), BN gamma 1
    /// and beta 0, running mean 0 and variance 1, classifier weight uniform(-1/sqrt(in), 1/sqrt(in)) (PyTorch's
    /// default) and bias 0. Deterministic for a seed.
    /// </summary>
    public void InitializeParameters(int seed)
    {
        var random = new Random(seed);
        var parameters = new float[_layout.ParameterCount];
        var running = new float[_layout.RunningStatisticsCount];
        foreach (var t in _layout.Tensors)
        {
            switch (t.Role)
            {
                case TensorRole.ConvolutionWeight:
                    double std = Math.Sqrt(2.0 / (t.Shape[0] * t.Shape[2] * t.Shape[3]));
                    for (long i = 0; i < t.Length; i++) parameters[t.Offset + i] = (float)(std * Gaussian(random));
                    break;
                case TensorRole.LinearWeight:
                    double bound = 1.0 / Math.Sqrt(t.Shape[1]);
                    for (long i = 0; i < t.Length; i++) parameters[t.Offset + i] = (float)((2 * random.NextDouble() - 1) * bound);
                    break;
                case TensorRole.BatchNormWeight:
                    Array.Fill(parameters, 1f, (int)t.Offset, (int)t.Length);
                    break;
                case TensorRole.RunningVariance:
                    Array.Fill(running, 1f, (int)t.Offset, (int)t.Length);
                    break;
            }
        }
        SetParameters(parameters);
        SetRunningStatistics(running);
        Array.Clear(BatchesTracked);
        _dropoutSeed = seed;
        _forwardCount = 0;
        _k.Zero(_momentum);
        _firstStep = true;
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2.0 * Math.Log(1.0 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>Copies all trainable parameters in (the layout's parameter order).</summary>
    public void SetParameters(ReadOnlySpan<float> values) => CopyIn(_parameters, values, "parameters");

    /// <summary>All trainable parameters (the layout's parameter order).</summary>
    public float[] GetParameters() => CopyOut(_parameters);

    /// <summary>The gradients of the last <see cref="ForwardBackward"/>, in parameter order.</summary>
    public float[] GetGradients() => CopyOut(_gradients);

    /// <summary>
    /// One training step with every kernel launch waited for and timed: per kernel, its launches and seconds (most
    /// time first). Slow (each launch is synchronised); it says where a step's time goes. Not on the host kernels.
    /// </summary>
    internal IReadOnlyList<(string Kernel, long Launches, double Seconds)> ProfileTrainingStep(ReadOnlySpan<float> images, ReadOnlySpan<int> labels, SgdOptions options)
    {
        IReadOnlyList<(string Kernel, long Launches, double Seconds)> profile;
        _k.StartProfile();
        _direct = true; // each launch timed: not a graph's
        try
        {
            TrainStep(images, labels, options);
            _device.Synchronize();
        }
        finally
        {
            _direct = false;
            profile = _k.StopProfile();
        }
        return profile;
    }

    /// <summary>
    /// Whether every gradient of the last <see cref="ForwardBackward"/> is finite, checked on the device: one float
    /// comes back instead of every gradient.
    /// </summary>
    public bool GradientsAreFinite()
    {
        // The logits' gradient is used only inside a backward pass: its first float serves as the flag.
        var flag = _dLogits.SubView(0, 1);
        _k.Zero(flag);
        _k.FlagNonFinite((int)_gradients.Length, _gradients, flag);
        return CopyOut(flag)[0] == 0f;
    }

    /// <summary>Copies the BN running statistics in.</summary>
    public void SetRunningStatistics(ReadOnlySpan<float> values) => CopyIn(_running, values, "running statistics");

    /// <summary>The BN running statistics (running means and variances, in layout order).</summary>
    public float[] GetRunningStatistics() => CopyOut(_running);

    /// <summary>
    /// Forward for a batch of images ([N, C, H, W] float32); returns the logits [N, classes]. Training mode uses batch
    /// statistics and updates the running statistics; evaluation mode uses each BN's running statistics.
    /// </summary>
    public float[] Forward(ReadOnlySpan<float> images, bool training)
    {
        CopyIn(_images, images, "images");
        if (training) CountTrainingForward();
        RunForward(training);
        return CopyOut(_logits);
    }

    /// <summary>
    /// Training-mode forward and backward with softmax cross-entropy against <paramref name="labels"/>; returns the
    /// mean loss and leaves every parameter's gradient in place for <see cref="Step"/> or <see cref="GetGradients"/>.
    /// </summary>
    public float ForwardBackward(ReadOnlySpan<float> images, ReadOnlySpan<int> labels)
    {
        CopyIn(_images, images, "images");
        if (labels.Length != _n) throw new ArgumentException($"Expected {_n} labels, got {labels.Length}.", nameof(labels));
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)Model.Classes)
                throw new ArgumentException($"Label {labels[i]} at position {i} is outside [0, {Model.Classes}).", nameof(labels));
        Upload(_labels, labels);
        RunTrainingPasses();
        return CopyOut(_loss).Average();
    }

    /// <summary>
    /// Training-mode forward and backward on the images already in the session (those of the last call): what a
    /// benchmark of the device alone measures, with no host-to-device copy of images.
    /// </summary>
    internal float ForwardBackwardResident(ReadOnlySpan<int> labels)
    {
        Upload(_labels, labels);
        RunTrainingPasses();
        return CopyOut(_loss).Average();
    }

    /// <summary>
    /// Whether training steps replay a CUDA graph of their forward and backward (<see cref="CudaGraphStep"/>): the first
    /// step after enabling runs as usual, the second is captured, every later one is one graph launch. Same kernels,
    /// arguments and order, so the same bits (dropout's per-step key is in device memory, written before each step).
    /// Off by default; where it cannot apply (not a CUDA device) the steps run as usual and <see cref="CudaGraphStatus"/>
    /// says why.
    /// </summary>
    public bool CudaGraphs
    {
        get => _cudaGraphs;
        set
        {
            if (value && _graph is not null) return; // already replaying
            if (!value) DropGraph();
            _cudaGraphs = value;
            _graphWarm = false;
            CudaGraphStatus = value ? _graphsUnavailable is { } reason ? "not used: " + reason : "enabled: the next step runs as usual, the one after is captured" : "off";
        }
    }

    /// <summary>What <see cref="CudaGraphs"/> is doing: off, not used and why, or replaying a graph of how many launches.</summary>
    public string CudaGraphStatus { get; private set; } = "off";

    /// <summary>Kernel launches in the captured graph, or 0 when none is held.</summary>
    internal int CudaGraphLaunches => _graph?.Launches ?? 0;

    /// <summary>
    /// A training forward and backward launched on <paramref name="stream"/> and waited for there, as a capture launches
    /// them (tests: on any ILGPU device, the step a graph records gives the default stream's results). Returns the loss.
    /// </summary>
    internal float ForwardBackwardOn(AcceleratorStream stream, ReadOnlySpan<float> images, ReadOnlySpan<int> labels)
    {
        if (_device.Kind == DeviceKind.Cpu) throw new NotSupportedException("The host kernels have no streams: use an ILGPU device.");
        CopyIn(_images, images, "images");
        Upload(_labels, labels);
        CountTrainingForward();
        _k.LaunchOn(stream, RunTrainingPassesDirectly);
        stream.Synchronize();
        return CopyOut(_loss).Average();
    }

    /// <summary>
    /// A training forward and backward: launched one by one, or with <see cref="CudaGraphs"/> as one graph. The step is
    /// counted first, on the host and in the dropout key (an upload on the default stream), outside any capture.
    /// </summary>
    private void RunTrainingPasses()
    {
        CountTrainingForward();
        if (!_cudaGraphs || _direct || _graphsUnavailable is not null)
        {
            RunTrainingPassesDirectly();
            return;
        }
        if (_graph is { } stale && stale.ScratchGeneration != _k.ScratchGeneration) DropGraph(); // the scratch moved
        if (_graph is null)
        {
            if (!_graphWarm)
            {
                // Every kernel loaded and the scratch sized: nothing a capture may not do is left for the next step.
                RunTrainingPassesDirectly();
                _graphWarm = true;
                return;
            }
            try
            {
                // Capturing runs the host side of the passes once, which launches nothing but kernels, and records them.
                _graph = CudaGraphStep.Capture((ILGPU.Runtime.Cuda.CudaAccelerator)_device.Accelerator, _k, RunTrainingPassesDirectly);
            }
            catch (Exception error) // whatever failed (a driver without an export included): the steps run as usual
            {
                _cudaGraphs = false;
                CudaGraphStatus = $"not used: the capture failed ({error.Message}); steps run as usual";
                RunTrainingPassesDirectly();
                return;
            }
        }
        _graph.Launch();
        CudaGraphStatus = $"replaying a graph of {_graph.Launches} launches";
    }

    /// <summary>A training forward and backward, each kernel launched (on the kernel set's stream).</summary>
    private void RunTrainingPassesDirectly()
    {
        RunForward(training: true);
        RunBackward();
    }

    private void DropGraph()
    {
        _graph?.Dispose();
        _graph = null;
    }

    /// <summary>The logits of the last forward.</summary>
    public float[] GetLogits() => CopyOut(_logits);

    /// <summary>One SGD step with the gradients of the last <see cref="ForwardBackward"/>.</summary>
    public void Step(SgdOptions options)
    {
        _k.Sgd((int)_layout.ParameterCount, _parameters, _gradients, _momentum, options.LearningRate, options.Momentum,
            options.WeightDecay, options.Nesterov ? 1 : 0, _firstStep ? 1 : 0);
        _firstStep = false;
    }

    /// <summary>
    /// Everything besides parameters and running statistics that the next training step depends on: the SGD momentum
    /// buffers, whether they have started, and the dropout stream's seed and position. With it a checkpoint resumes
    /// a run exactly.
    /// </summary>
    public OptimizerState GetOptimizerState() => new(CopyOut(_momentum), !_firstStep, _dropoutSeed, _forwardCount);

    /// <summary>Restores what <see cref="GetOptimizerState"/> returned.</summary>
    public void SetOptimizerState(OptimizerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        CopyIn(_momentum, state.Momentum, "momentum values");
        _firstStep = !state.MomentumStarted;
        _dropoutSeed = state.DropoutSeed;
        _forwardCount = state.ForwardCount;
    }

    /// <summary>Forward, backward and one SGD step; returns the mean loss of the batch.</summary>
    public float TrainStep(ReadOnlySpan<float> images, ReadOnlySpan<int> labels, SgdOptions options)
    {
        float loss = ForwardBackward(images, labels);
        Step(options);
        return loss;
    }

    // ----- forward -----

    /// <summary>The forward's launches; a training forward is counted by the caller (<see cref="CountTrainingForward"/>).</summary>
    private void RunForward(bool training)
    {
        StemForward(training);
        _afterLayer?.Invoke("features.conv0", StemOutput());
        for (int b = 0; b < _blocks.Length; b++)
        {
            var block = _blocks[b];
            for (int l = 0; l < block.Tensors.Layers.Count; l++)
            {
                DenseLayerForward(b, l, training);
                _afterLayer?.Invoke(block.Tensors.Layers[l].Name, block.Value.Value);
            }
            if (b + 1 < _blocks.Length)
            {
                TransitionForward(b, training);
                _afterLayer?.Invoke(_layout.Transitions[b].Name, _blocks[b + 1].Value.Value);
            }
        }
        HeadForward(training);
        _afterLayer?.Invoke("classifier", _logits);
    }

    /// <summary>
    /// What a training forward counts: each BN's num_batches_tracked and the dropout stream's step (on the host), and
    /// with dropout the step's key in the arena, which the dropout launches read (<see cref="DropoutStepKey"/>).
    /// </summary>
    private void CountTrainingForward()
    {
        for (int i = 0; i < BatchesTracked.Length; i++) BatchesTracked[i]++;
        _forwardCount++;
        if (_dropoutKey.Length > 0) Upload(_dropoutKey, [DropoutStepKey(_dropoutSeed, _forwardCount)]);
    }

    // Set only while locating a non-finite value: called after each layer with the values it wrote.
    private Action<string, ArrayView<float>>? _afterLayer;

    // A layer's output is checked as its whole block buffer: channels not yet written are zero during the diagnosis.
    private ArrayView<float> StemOutput() => _layout.Stem.Norm0 is null ? _blocks[0].Value.Value : _stem.Value;

    /// <summary>
    /// Runs a training-mode forward of <paramref name="images"/> layer by layer and returns the torchvision name of
    /// the first layer whose output holds NaN or infinity (null when every output is finite). Running statistics,
    /// step counters and the dropout stream are left as they were. For diagnosing a diverged run; slow.
    /// </summary>
    public string? LocateNonFinite(ReadOnlySpan<float> images)
    {
        CopyIn(_images, images, "images");
        var running = GetRunningStatistics();
        var counters = (long[])BatchesTracked.Clone();
        uint forwardCount = _forwardCount;
        CountTrainingForward(); // a step of its own, as it always was (its dropout masks too); undone on the host below
        // Channels not yet rewritten still hold the diverged step's values: clear them so only fresh outputs count.
        foreach (var block in _blocks) _k.Zero(block.Value.Value);
        if (_layout.Stem.Norm0 is not null) _k.Zero(_stem.Value);
        string? first = null;
        _afterLayer = (name, values) =>
        {
            if (first is not null) return;
            foreach (float v in CopyOut(values)) if (!float.IsFinite(v)) { first = name; return; }
        };
        try { RunForward(training: true); }
        finally
        {
            _afterLayer = null;
            SetRunningStatistics(running);
            Array.Copy(counters, BatchesTracked, counters.Length);
            _forwardCount = forwardCount;
        }
        return first;
    }

    private void StemForward(bool training)
    {
        var first = _blocks[0];
        var conv0 = _layout.Stem.Conv0;
        if (_layout.Stem.Norm0 is not { } norm0)
        {
            var shape = Conv(conv0, Model.InputChannels, Model.InputChannels, Model.InputSize, first.Channels, 0, first.Size);
            ConvForward(shape, _images, Param(conv0.Weight), default, first.Value, training, BlockConsumers(0, fromLayer: 0, first.Size));
            return;
        }
        var stemShape = Conv(conv0, Model.InputChannels, Model.InputChannels, Model.InputSize, conv0.OutputChannels, 0, _stemConvSize);
        ConvForward(stemShape, _images, Param(conv0.Weight), default, _stem, training, Fold(_table.Norm0, 1, _stemConvSize));
        var bn0 = Normalize(norm0, training);
        var pool = StemPool(first);
        _k.MaxPoolForward(_n * pool.Channels * pool.OutSize * pool.OutSize, pool, _stem.Value, bn0, first.Value.Value);
        if (training) Statistics(first.Value, first.Channels, 0, conv0.OutputChannels, first.Size, BlockConsumers(0, fromLayer: 0, first.Size));
    }

    private void DenseLayerForward(int b, int l, bool training)
    {
        var block = _blocks[b];
        var layer = block.Tensors.Layers[l];
        var bn1 = Normalize(layer.Norm1, training);
        // The new channels' readers: every later layer's first BN and the block's closing BN.
        var readers = BlockConsumers(b, fromLayer: l + 1, block.Size);
        if (layer.Conv2 is { } conv2)
        {
            var shape1 = BottleneckConv(block, layer);
            var bottleneck = Bottleneck(block, l);
            ConvForward(shape1, block.Value.Value, Param(layer.Conv1.Weight), bn1, bottleneck, training,
                Fold(_table.BottleneckStarts[b] + l, 1, block.Size)); // its only reader: the layer's second BN
            var bn2 = Normalize(layer.Norm2!, training);
            var shape2 = GrowthConv(block, layer, conv2, block.Width, block.Width);
            // With dropout, the statistics are of the dropped-out values: a separate pass after the mask.
            ConvForward(shape2, bottleneck.Value, Param(conv2.Weight), bn2, block.Value, training && layer.DropRate == 0, readers);
        }
        else
        {
            var shape = GrowthConv(block, layer, layer.Conv1, layer.InputChannels, block.Channels);
            ConvForward(shape, block.Value.Value, Param(layer.Conv1.Weight), bn1, block.Value, training && layer.DropRate == 0, readers);
        }
        if (training && layer.DropRate > 0)
        {
            Dropout(block, l, block.Value.Value);
            Statistics(block.Value, block.Channels, layer.InputChannels, layer.GrowthRate, block.Size, readers);
        }
    }

    /// <summary>
    /// Dropout on layer l's new channels: forward on the values, backward on their finalized gradient. The mask is a
    /// hash of the seed, the training step, the layer and the element: recomputed, never stored.
    /// </summary>
    private void Dropout(Block block, int l, ArrayView<float> buffer)
    {
        var layer = block.Tensors.Layers[l];
        var range = new ChannelRange { Batch = _n, Stride = block.Channels, Offset = layer.InputChannels, Count = layer.GrowthRate, Size = block.Size };
        _k.Dropout(range.Elements, range, buffer, _dropoutKey, DropoutLayerKey(block.Tensors.Index, l), (float)layer.DropRate);
    }

    /// <summary>The dropout seed of one layer in one training step: what <see cref="DropoutKernels.Apply"/> hashes from its keys.</summary>
    internal static uint DropoutSeed(int seed, uint step, int block, int layer) => DropoutKernels.Hash(DropoutStepKey(seed, step), DropoutLayerKey(block, layer));

    /// <summary>A training step's dropout key: written to the arena before the step.</summary>
    private static uint DropoutStepKey(int seed, uint step) => DropoutKernels.Hash((uint)seed, step);

    /// <summary>A dropout layer's key: its launch's argument, the same every step.</summary>
    private static uint DropoutLayerKey(int block, int layer) => (uint)(block * 65536 + layer);

    private void TransitionForward(int b, bool training)
    {
        Block from = _blocks[b], to = _blocks[b + 1];
        var t = _layout.Transitions[b];
        var bn = Normalize(t.Norm, training);
        var pool = TransitionPool(from, to);
        _k.AveragePoolForward(_n * pool.Channels * pool.OutSize * pool.OutSize, pool, from.Value.Value, bn, PooledValue(from, to));
        var shape = TransitionConv(from, to, t);
        ConvForward(shape, PooledValue(from, to), Param(t.Conv.Weight), default, to.Value, training, BlockConsumers(b + 1, fromLayer: 0, to.Size));
    }

    private void HeadForward(bool training)
    {
        var last = _blocks[^1];
        var bn5 = Normalize(_layout.Norm5, training);
        var pool = HeadPool(last);
        _k.GlobalPoolForward(_n * last.Channels, pool, last.Value.Value, bn5, _features);
        var fc = _layout.Classifier;
        _k.LinearForward(_n * Model.Classes, fc.InputFeatures, Model.Classes, _features, Param(fc.Weight), Param(fc.Bias), _logits);
        _k.SoftmaxCrossEntropy(_n, _n, Model.Classes, _logits, _labels, _loss, _dLogits);
    }

    // ----- backward -----

    private void RunBackward()
    {
        foreach (var block in _blocks) { _k.Zero(block.Value.Grad); _k.Zero(block.Value.S1); _k.Zero(block.Value.S2); }

        // Head: classifier, then global pool through norm5 into the last block's accumulators.
        var last = _blocks[^1];
        var fc = _layout.Classifier;
        _k.LinearBackwardParameters(Model.Classes * (fc.InputFeatures + 1), _n, fc.InputFeatures, Model.Classes, _features, _dLogits, Grad(fc.Weight), Grad(fc.Bias));
        _k.LinearBackwardInput(_n * fc.InputFeatures, fc.InputFeatures, Model.Classes, _dLogits, Param(fc.Weight), _dFeatures);
        // Each channel's gradient becomes its producer's output gradient in the launch of its last consumer in this
        // order (FinalizeCount): norm5 reads the last layer's channels last.
        _k.GlobalPoolBackward(Groups(last.Channels), HeadPool(last), _dFeatures, last.Value.Value, PrologueOf(_layout.Norm5),
            BackwardOf(_layout.Norm5, last.Value) with { FinalizeCount = NewestChannels(last) });

        for (int b = _blocks.Length - 1; b >= 0; b--)
        {
            var block = _blocks[b];
            for (int l = block.Tensors.Layers.Count - 1; l >= 0; l--) DenseLayerBackward(block, l);
            if (b > 0) TransitionBackward(b - 1);
            else StemBackward();
        }
    }

    private void DenseLayerBackward(Block block, int l)
    {
        var layer = block.Tensors.Layers[l];
        // This layer's channels were finalized by their last consumer (the next layer, the transition or norm5), and this
        // layer's BN1 is the last consumer of the channels before it that the previous layer wrote (the block's input for
        // layer 0).
        int readLast = l == 0 ? layer.InputChannels : block.Tensors.Layers[l - 1].GrowthRate;
        if (layer.DropRate > 0) Dropout(block, l, block.Value.Grad); // d(dropout)/d(conv output) is the same mask
        // Each BN's scale and shift are those of the forward (same statistics, gamma and beta): kept, not recomputed.
        var bn1 = PrologueOf(layer.Norm1);
        if (layer.Conv2 is { } conv2)
        {
            var shape1 = BottleneckConv(block, layer);
            var bottleneck = Bottleneck(block, l);
            var (value, grad) = (bottleneck.Value, bottleneck.Grad);
            // The lean mode recomputes the output; its statistics were kept from the forward (the same values).
            if (Plan.Bottlenecks == BottleneckMode.Recompute)
                ConvForward(shape1, block.Value.Value, Param(layer.Conv1.Weight), bn1, bottleneck, withStatistics: false, default);
            var bn2 = PrologueOf(layer.Norm2!);

            var shape2 = GrowthConv(block, layer, conv2, block.Width, block.Width);
            _k.ConvBackwardWeights(shape2, value, bn2, block.Value.Grad, Grad(conv2.Weight));
            // The 3x3 conv is the bottleneck's only consumer: it writes grad, S1 and S2 instead of adding (no zeroing
            // launches), and finalizes every bottleneck channel.
            _k.ConvBackwardInputThroughBatchNorm(shape2, block.Value.Grad, Param(conv2.Weight), value, bn2,
                BackwardOf(layer.Norm2!, bottleneck) with { Overwrite = 1, FinalizeCount = block.Width });

            _k.ConvBackwardWeights(shape1, block.Value.Value, bn1, grad, Grad(layer.Conv1.Weight));
            _k.ConvBackwardInputThroughBatchNorm(shape1, grad, Param(layer.Conv1.Weight), block.Value.Value, bn1,
                BackwardOf(layer.Norm1, block.Value) with { FinalizeCount = readLast });
        }
        else
        {
            var shape = GrowthConv(block, layer, layer.Conv1, layer.InputChannels, block.Channels);
            _k.ConvBackwardWeights(shape, block.Value.Value, bn1, block.Value.Grad, Grad(layer.Conv1.Weight));
            _k.ConvBackwardInputThroughBatchNorm(shape, block.Value.Grad, Param(layer.Conv1.Weight), block.Value.Value, bn1,
                BackwardOf(layer.Norm1, block.Value) with { FinalizeCount = readLast });
        }
    }

    private void TransitionBackward(int b)
    {
        Block from = _blocks[b], to = _blocks[b + 1];
        var t = _layout.Transitions[b];
        var bn = PrologueOf(t.Norm);
        var pool = TransitionPool(from, to);
        var pooled = PooledValue(from, to);
        var dPooled = PooledGrad(from, to);
        _k.AveragePoolForward(_n * pool.Channels * pool.OutSize * pool.OutSize, pool, from.Value.Value, bn, pooled);
        var shape = TransitionConv(from, to, t);
        _k.ConvBackwardWeights(shape, pooled, default, to.Value.Grad, Grad(t.Conv.Weight));
        _k.ConvBackwardInput(shape, to.Value.Grad, Param(t.Conv.Weight), dPooled);
        _k.AveragePoolBackward(Groups(from.Channels), pool, dPooled, from.Value.Value, bn, BackwardOf(t.Norm, from.Value) with { FinalizeCount = NewestChannels(from) });
    }

    private void StemBackward()
    {
        var first = _blocks[0];
        var conv0 = _layout.Stem.Conv0;
        if (_layout.Stem.Norm0 is not { } norm0)
        {
            var shape = Conv(conv0, Model.InputChannels, Model.InputChannels, Model.InputSize, first.Channels, 0, first.Size);
            _k.ConvBackwardWeights(shape, _images, default, first.Value.Grad, Grad(conv0.Weight));
            return;
        }
        _k.Zero(_stem.Grad); _k.Zero(_stem.S1); _k.Zero(_stem.S2);
        _k.MaxPoolBackward(Groups(norm0.Channels), StemPool(first), first.Value.Grad, _stem.Value, PrologueOf(norm0), BackwardOf(norm0, _stem) with { FinalizeCount = norm0.Channels });
        var stemShape = Conv(conv0, Model.InputChannels, Model.InputChannels, Model.InputSize, conv0.OutputChannels, 0, _stemConvSize);
        _k.ConvBackwardWeights(stemShape, _images, default, _stem.Grad, Grad(conv0.Weight));
    }

    // ----- shared pieces -----

    /// <summary>
    /// A conv writing into tensor <paramref name="t"/>'s value buffer; with <paramref name="withStatistics"/>, also the
    /// batch statistics of the channels it writes (in the conv's epilogue where the kernels allow), folded into the
    /// scale, shift and running statistics of the BNs that read them (<paramref name="readers"/>).
    /// </summary>
    private void ConvForward(ConvShape shape, ArrayView<float> input, ArrayView<float> weight, Prologue prologue, Tensor t, bool withStatistics, BatchNormFold readers)
    {
        if (withStatistics)
            _k.ConvForwardWithStatistics(shape, input, weight, prologue, t.Value,
                new BatchStatistics { Mean = t.Mean, Variance = t.Variance, InvStd = t.InvStd, Epsilon = Epsilon, Fold = readers });
        else
            _k.ConvForward(shape, input, weight, prologue, t.Value);
    }

    /// <summary>Batch statistics of channels [offset, offset + count) of a tensor with <paramref name="stride"/> channels, folded into their readers.</summary>
    private void Statistics(Tensor t, int stride, int offset, int count, int size, BatchNormFold readers)
    {
        var range = new ChannelRange { Batch = _n, Stride = stride, Offset = offset, Count = count, Size = size };
        _k.Statistics(Groups(count), range, t.Value, t.Mean, t.Variance, t.InvStd, Epsilon, readers);
    }

    /// <summary>
    /// The BNs from <paramref name="first"/> (an entry of MemoryPlan.ConsumersOf) on, <paramref name="count"/> of them,
    /// reading a tensor of <paramref name="size"/> x <paramref name="size"/> images: their training-mode fold.
    /// </summary>
    private BatchNormFold Fold(int first, int count, int size)
    {
        float m = (float)_n * size * size;
        return new BatchNormFold
        {
            Consumers = _consumers.SubView(4L * first, 4L * count), Count = count, Parameters = _parameters, Running = _running, ScaleShift = _scaleShift,
            Momentum = BatchNormMomentum, Unbias = m / Math.Max(1f, m - 1f),
        };
    }

    /// <summary>The readers of block <paramref name="block"/>'s channels that layer <paramref name="fromLayer"/> and later read: those layers' first BNs and the block's closing BN.</summary>
    private BatchNormFold BlockConsumers(int block, int fromLayer, int size) =>
        Fold(_table.BlockStarts[block] + fromLayer, _layout.Blocks[block].Layers.Count + 1 - fromLayer, size);

    /// <summary>
    /// A BN's BN-ReLU prologue: its own scale and shift (one pair per BN channel, placed as its running mean and variance
    /// are in theirs), written in a training forward where its input channels' statistics are finished (<see cref="Fold"/>)
    /// and in evaluation by <see cref="Normalize"/>, and read again by the backward.
    /// </summary>
    private Prologue PrologueOf(BatchNormTensors norm) => new()
    {
        Scale = _scaleShift.SubView(norm.RunningMean.Offset, norm.Channels), Shift = _scaleShift.SubView(norm.RunningVariance.Offset, norm.Channels), Enabled = 1,
    };

    /// <summary>
    /// A BN's prologue (<see cref="PrologueOf"/>). In training its scale, shift and running statistics were written
    /// with its input channels' statistics (each producer folds its readers: <see cref="Fold"/>), so nothing is
    /// launched; in evaluation one launch folds the running statistics into it.
    /// </summary>
    private Prologue Normalize(BatchNormTensors norm, bool training)
    {
        var prologue = PrologueOf(norm);
        if (!training)
            _k.ScaleShiftEvaluation(norm.Channels, Running(norm.RunningMean), Running(norm.RunningVariance), Param(norm.Weight), Param(norm.Bias), prologue.Scale, prologue.Shift, Epsilon);
        return prologue;
    }

    /// <summary>The channels a block's closing BN (its transition's or norm5) reads last: its last layer's, or its input's if it has no layers.</summary>
    private static int NewestChannels(Block block) =>
        block.Tensors.Layers is { Count: > 0 } layers ? layers[^1].GrowthRate : block.Channels;

    private BatchNormBackward BackwardOf(BatchNormTensors norm, Tensor t) => new()
    {
        Gamma = Param(norm.Weight), Mean = t.Mean, InvStd = t.InvStd, Grad = t.Grad, S1 = t.S1, S2 = t.S2,
        DGamma = Grad(norm.Weight), DBeta = Grad(norm.Bias),
    };

    private KernelConfig Groups(int groups) => new(groups, _device.ReductionGroupSize);

    private ConvShape Conv(ConvolutionTensors conv, int inChannels, int inStride, int inSize, int outStride, int outOffset, int outSize) => new()
    {
        Batch = _n, InChannels = inChannels, InStride = inStride, InSize = inSize, OutChannels = conv.OutputChannels,
        OutStride = outStride, OutOffset = outOffset, OutSize = outSize, Kernel = conv.Kernel, Stride = conv.Stride, Padding = conv.Padding,
    };

    private ConvShape BottleneckConv(Block block, DenseLayerTensors layer) =>
        Conv(layer.Conv1, layer.InputChannels, block.Channels, block.Size, block.Width, 0, block.Size);

    private ConvShape GrowthConv(Block block, DenseLayerTensors layer, ConvolutionTensors conv, int inChannels, int inStride) =>
        Conv(conv, inChannels, inStride, block.Size, block.Channels, layer.InputChannels, block.Size);

    private ConvShape TransitionConv(Block from, Block to, TransitionTensors t) =>
        Conv(t.Conv, from.Channels, from.Channels, to.Size, to.Channels, 0, to.Size);

    private PoolShape TransitionPool(Block from, Block to) => new()
    {
        Batch = _n, Channels = from.Channels, InStride = from.Channels, InSize = from.Size, OutStride = from.Channels, OutOffset = 0, OutSize = to.Size,
    };

    private PoolShape StemPool(Block first) => new()
    {
        Batch = _n, Channels = _layout.Stem.Conv0.OutputChannels, InStride = _layout.Stem.Conv0.OutputChannels, InSize = _stemConvSize,
        OutStride = first.Channels, OutOffset = 0, OutSize = first.Size,
    };

    private PoolShape HeadPool(Block last) => new()
    {
        Batch = _n, Channels = last.Channels, InStride = last.Channels, InSize = last.Size, OutStride = last.Channels, OutSize = 1,
    };

    /// <summary>
    /// Layer l's bottleneck output (kept, or in the scratch to be recomputed), its batch statistics (kept per layer),
    /// and its gradient with the sums S1, S2 (scratch, shared by every layer).
    /// </summary>
    private Tensor Bottleneck(Block b, int l)
    {
        long elements = (long)_n * b.Width * b.Size * b.Size;
        var kept = b.Bottlenecks;
        bool stored = Plan.Bottlenecks == BottleneckMode.Store;
        return new Tensor(
            stored ? kept.Values.SubView(l * elements, elements) : _scratch.SubView(0, elements),
            _scratch.SubView(stored ? 0 : elements, elements),
            kept.Mean.SubView(l * b.Width, b.Width), kept.Variance.SubView(l * b.Width, b.Width), kept.InvStd.SubView(l * b.Width, b.Width),
            _bottleneckS1.SubView(0, b.Width), _bottleneckS2.SubView(0, b.Width));
    }

    // Scratch: the bottleneck gradient (and recomputed output), or a transition's pooled input and its gradient (never live together).
    private ArrayView<float> PooledValue(Block from, Block to) => _scratch.SubView(0, (long)_n * from.Channels * to.Size * to.Size);
    private ArrayView<float> PooledGrad(Block from, Block to) => _scratch.SubView((long)_n * from.Channels * to.Size * to.Size, (long)_n * from.Channels * to.Size * to.Size);

    private ArrayView<float> Param(TensorInfo t) => _parameters.SubView(t.Offset, t.Length);
    private ArrayView<float> Grad(TensorInfo t) => _gradients.SubView(t.Offset, t.Length);
    private ArrayView<float> Running(TensorInfo t) => _running.SubView(t.Offset, t.Length);

    private static void CopyIn(ArrayView<float> target, ReadOnlySpan<float> values, string what)
    {
        if (values.Length != target.Length)
            throw new ArgumentException($"Expected {target.Length} {what}, got {values.Length}.");
        Upload(target, values);
    }

    /// <summary>
    /// Copies straight from the caller's memory (no managed copy per step), pinned for the copy: ILGPU's copy from a
    /// <c>ref T</c> uses the address as it is, so an unpinned array moved by a garbage collection on another thread
    /// mid-copy would upload stale memory (seen as a rare wrong loss in a resumed run).
    /// </summary>
    private static unsafe void Upload<T>(ArrayView<T> target, ReadOnlySpan<T> values) where T : unmanaged
    {
        fixed (T* source = values) target.CopyFromCPU(ref System.Runtime.CompilerServices.Unsafe.AsRef<T>(source), values.Length);
    }

    private static float[] CopyOut(ArrayView<float> source)
    {
        var values = new float[source.Length];
        source.CopyToCPU(values);
        return values;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        DropGraph();
        _arena.Dispose();
    }

    /// <summary>A shared-statistics tensor: values, gradient accumulator and per-channel arrays.</summary>
    private readonly record struct Tensor(
        ArrayView<float> Value, ArrayView<float> Grad, ArrayView<float> Mean, ArrayView<float> Variance,
        ArrayView<float> InvStd, ArrayView<float> S1, ArrayView<float> S2);

    /// <summary>A block's kept bottleneck outputs (<see cref="BottleneckMode.Store"/>) and statistics, layer after layer.</summary>
    private readonly record struct Bottlenecks(ArrayView<float> Values, ArrayView<float> Mean, ArrayView<float> Variance, ArrayView<float> InvStd);

    private sealed record Block(DenseBlockTensors Tensors, int Size, int Channels, int Width, Tensor Value, Bottlenecks Bottlenecks);
}
