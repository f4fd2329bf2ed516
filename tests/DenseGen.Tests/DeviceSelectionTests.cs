using System;
using DenseGen.Execution;
using Xunit;

namespace DenseGen.Tests;

/// <summary>DENSEGEN_DEVICE and DENSEGEN_CONVOLUTION: what they accept, and what a bad value is told.</summary>
public class DeviceSelectionTests
{
    [Theory]
    [InlineData(null, null, 0)]
    [InlineData("", null, 0)]
    [InlineData("cuda:1", DeviceKind.Cuda, 1)]
    [InlineData(" OpenCL ", DeviceKind.OpenCL, 0)]
    [InlineData("host", DeviceKind.Cpu, 0)]
    [InlineData("ilgpu-cpu", DeviceKind.IlgpuCpu, 0)]
    public void Device_requests_parse(string? request, DeviceKind? kind, int index) =>
        Assert.Equal((kind, index), ComputeDevice.Parse(request));

    [Theory]
    [InlineData("tpu", "is not a device")]
    [InlineData("cuda:x", "bad index")]
    [InlineData("cuda:-1", "bad index")]
    public void Bad_device_requests_say_what_to_write(string request, string message) =>
        Assert.Contains(message, Assert.Throws<ArgumentException>(() => ComputeDevice.Parse(request)).Message);

    [Theory]
    [InlineData(null, ConvolutionVersion.Banded)]
    [InlineData("", ConvolutionVersion.Banded)]
    [InlineData("Tiled", ConvolutionVersion.Tiled)]
    [InlineData("direct", ConvolutionVersion.Direct)]
    [InlineData("1", ConvolutionVersion.Direct)]
    [InlineData("pipelined", ConvolutionVersion.Pipelined)]
    [InlineData("3", ConvolutionVersion.Pipelined)]
    [InlineData("banded", ConvolutionVersion.Banded)]
    [InlineData("4", ConvolutionVersion.Banded)]
    public void Convolution_versions_parse(string? value, ConvolutionVersion version) =>
        Assert.Equal(version, ComputeDevice.ParseConvolution(value));

    /// <summary>
    /// Version 4's band counts for the channel counts of the paper's networks: one band (version 3's 16-row tile) for
    /// the 12-channel growth convs, two for DenseNet-121's 32, three for BC-100's 48-channel bottlenecks, four for
    /// 128 and more.
    /// </summary>
    [Theory]
    [InlineData(12, 1)]
    [InlineData(16, 1)]
    [InlineData(32, 2)]
    [InlineData(48, 3)]
    [InlineData(80, 3)]
    [InlineData(128, 4)]
    [InlineData(204, 4)]
    [InlineData(1024, 4)]
    public void Band_counts_follow_the_rows(int rows, int bands) =>
        Assert.Equal(bands, DenseGen.Kernels.ConvolutionKernels.BandsFor(rows));

    [Fact]
    public void A_bad_convolution_version_names_the_choices() =>
        Assert.Contains("use banded (the default), pipelined, tiled or direct", Assert.Throws<ArgumentException>(() => ComputeDevice.ParseConvolution("fast")).Message);
}
