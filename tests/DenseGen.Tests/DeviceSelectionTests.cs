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
    [InlineData(null, ConvolutionVersion.Pipelined)]
    [InlineData("", ConvolutionVersion.Pipelined)]
    [InlineData("Tiled", ConvolutionVersion.Tiled)]
    [InlineData("direct", ConvolutionVersion.Direct)]
    [InlineData("1", ConvolutionVersion.Direct)]
    [InlineData("pipelined", ConvolutionVersion.Pipelined)]
    [InlineData("3", ConvolutionVersion.Pipelined)]
    [InlineData("wide", ConvolutionVersion.Wide)]
    [InlineData("4", ConvolutionVersion.Wide)]
    public void Convolution_versions_parse(string? value, ConvolutionVersion version) =>
        Assert.Equal(version, ComputeDevice.ParseConvolution(value));

    /// <summary>
    /// Version 4's 64-row tiles go to products with 64 or more rows that they pad at most a quarter more than version
    /// 3's 16- or 32-row tiles: DenseNet-121's 128-channel bottlenecks and 256/512-channel backward-inputs yes, the
    /// 12/32-channel growth convs and BC-100's 48-channel bottlenecks no.
    /// </summary>
    [Theory]
    [InlineData(128, true)]
    [InlineData(256, true)]
    [InlineData(64, true)]
    [InlineData(200, true)] // 256 padded rows vs 224
    [InlineData(80, false)] // 128 vs 96
    [InlineData(48, false)]
    [InlineData(32, false)]
    [InlineData(12, false)]
    public void Wide_tiles_go_where_they_pad_little(int rows, bool wide) =>
        Assert.Equal(wide, DenseGen.Kernels.ConvolutionKernels.WideTilesFit(rows));

    [Fact]
    public void A_bad_convolution_version_names_the_choices() =>
        Assert.Contains("use pipelined (the default), wide, tiled or direct", Assert.Throws<ArgumentException>(() => ComputeDevice.ParseConvolution("fast")).Message);
}
