using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using DenseGen.TestSupport;
using Microsoft.ML.OnnxRuntime;
using Xunit;

namespace DenseGen.Tests;

/// <summary>
/// The densegen program, run as a user runs it: bad input gives one message naming the file and the problem and
/// exit code 1, never a stack trace.
/// </summary>
public sealed class CliTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("densegen-cli-").FullName;

    private static (int Code, string Out, string Error) Run(params string[] args)
    {
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
        string program = Path.Combine(Repository.Root, "src", "DenseGen.Cli", "bin", configuration, "net10.0", "DenseGen.Cli.dll");
        Assert.True(File.Exists(program), $"{program} is missing: build the solution first");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(program);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["DENSEGEN_DEVICE"] = "cpu";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(120_000), "densegen did not finish in 2 minutes");
        return (process.ExitCode, stdout.Result, stderr);
    }

    private static void AssertCleanError((int Code, string Out, string Error) result, params string[] expected)
    {
        Assert.Equal(1, result.Code);
        foreach (var e in expected) Assert.Contains(e, result.Error);
        Assert.DoesNotContain("   at ", result.Error); // no stack trace
        Assert.DoesNotContain("Unhandled exception", result.Error);
    }

    [Fact]
    public void A_truncated_cifar_batch_is_named_with_its_offset()
    {
        var bytes = new byte[3073 * 2 + 100];
        File.WriteAllBytes(Path.Combine(_folder, "data_batch_1.bin"), bytes);
        File.WriteAllBytes(Path.Combine(_folder, "test_batch.bin"), new byte[3073]);
        AssertCleanError(Run("train", "--data", _folder, "--epochs", "1"), "data_batch_1.bin", "truncated", "6146");
    }

    [Fact]
    public void Wrong_idx_magic_and_out_of_range_labels_are_named()
    {
        File.WriteAllBytes(Path.Combine(_folder, "train-images-idx3-ubyte"), [0, 0, 8, 1, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28]);
        File.WriteAllBytes(Path.Combine(_folder, "train-labels-idx1-ubyte"), [0, 0, 8, 1, 0, 0, 0, 0]);
        AssertCleanError(Run("train", "--data", _folder), "train-images-idx3-ubyte", "magic number");

        string cifar = Path.Combine(_folder, "cifar");
        Directory.CreateDirectory(cifar);
        var record = new byte[3073];
        record[0] = 12;
        File.WriteAllBytes(Path.Combine(cifar, "data_batch_1.bin"), record);
        File.WriteAllBytes(Path.Combine(cifar, "test_batch.bin"), new byte[3073]);
        AssertCleanError(Run("train", "--data", cifar), "data_batch_1.bin", "label 12");
    }

    [Fact]
    public void An_empty_folder_and_bad_options_are_explained()
    {
        AssertCleanError(Run("train", "--data", _folder), _folder);
        AssertCleanError(Run("train", "--model", "densenet-7"), "unknown model", "densenet-bc-100-k12");
        AssertCleanError(Run("train", "--epochs", "many"), "--epochs");
        AssertCleanError(Run("train", "--learning-rate", "0.1"), "unknown option", "--learning-rate");
        AssertCleanError(Run("eval", "--model", "densenet-mnist", "--weights", Path.Combine(_folder, "none.safetensors")), "none.safetensors");
        AssertCleanError(Run("kernels", "--arch", "gfx90a", "--ptxas", "/bin/true", "--out", _folder), "gfx90a", "sm_90");
        AssertCleanError(Run("kernels", "--ptxas", Path.Combine(_folder, "no-ptxas"), "--out", _folder), "no-ptxas", "get-ptxas.sh");
    }

    [Fact]
    public void Bench_with_cuda_graphs_on_the_host_says_they_need_cuda_and_runs_as_usual()
    {
        var (code, output, error) = Run("bench", "--batch", "8", "--steps", "2", "--cuda-graphs");
        Assert.True(code == 0, error);
        Assert.Contains("fixed batch, copied each step", output);
        Assert.Contains("CUDA graphs: not used: the device is Cpu", output);
    }

    [Fact]
    public void Summary_and_export_work_from_the_command_line()
    {
        var summary = Run("summary", "--model", "densenet-121");
        Assert.Equal(0, summary.Code);
        Assert.Contains("7,978,856", summary.Out);

        string onnx = Path.Combine(_folder, "mnist.onnx");
        var export = Run("export", "--model", "densenet-mnist", "--onnx", onnx);
        Assert.Equal(0, export.Code);
        using var session = new InferenceSession(onnx);
        Assert.Equal(new[] { -1, 1, 28, 28 }, session.InputMetadata["input"].Dimensions);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
