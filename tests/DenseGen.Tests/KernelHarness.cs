using System;
using System.Collections.Generic;
using System.Linq;
using DenseGen.Execution;
using ILGPU;
using ILGPU.Runtime;

namespace DenseGen.Tests;

/// <summary>Device buffers for kernel tests: random inputs (never zeros), NaN-poisoned outputs, read back after a sync.</summary>
internal sealed class KernelHarness : IDisposable
{
    private readonly List<IDisposable> _buffers = [];
    private readonly Random _random;

    /// <param name="seed">Seed of the random inputs.</param>
    /// <param name="variant">A convolution variant of <see cref="TestDevice.ConvolutionVariants"/>, or "" for the test device's kernels.</param>
    public KernelHarness(int seed, string variant = "")
    {
        _random = new Random(seed);
        (Device, Kernels) = TestDevice.For(variant);
    }

    public ComputeDevice Device { get; }
    public KernelSet Kernels { get; }

    public double[] Random(int length, double low = -1, double high = 1) =>
        Enumerable.Range(0, length).Select(_ => low + (high - low) * _random.NextDouble()).ToArray();

    public int NextInt(int max) => _random.Next(max);

    /// <summary>A device copy of <paramref name="values"/> (rounded to float32; the rounded values are returned too).</summary>
    public ArrayView<float> Upload(double[] values, out double[] rounded)
    {
        var floats = values.Select(v => (float)v).ToArray();
        rounded = floats.Select(v => (double)v).ToArray();
        var buffer = Device.Accelerator.Allocate1D(floats);
        _buffers.Add(buffer);
        return buffer.View;
    }

    public ArrayView<float> Upload(double[] values) => Upload(values, out _);

    public ArrayView<int> Upload(int[] values)
    {
        var buffer = Device.Accelerator.Allocate1D(values);
        _buffers.Add(buffer);
        return buffer.View;
    }

    /// <summary>An output buffer full of NaN: an element the kernel should write but does not stays NaN.</summary>
    public ArrayView<float> Poisoned(int length) => Upload(Enumerable.Repeat(double.NaN, length).ToArray());

    public float[] Read(ArrayView<float> view)
    {
        Device.Synchronize();
        var values = new float[view.Length];
        view.CopyToCPU(values);
        return values;
    }

    public KernelConfig Groups(int groups) => new(groups, Device.ReductionGroupSize);

    public void Dispose()
    {
        foreach (var buffer in _buffers) buffer.Dispose();
    }
}
