using System;
using System.Linq;
using DenseGen.Execution;

namespace DenseGen.Benchmarks;

/// <summary>
/// Which parameter values a run measures, from the environment (BenchmarkDotNet's --filter selects methods, not
/// parameters): on PoCL a full matrix takes hours.
/// </summary>
internal static class Selection
{
    /// <summary>DENSEGEN_BENCH_VERSIONS (comma-separated: direct, tiled, pipelined, banded); every version by default.</summary>
    public static ConvolutionVersion[] Versions => Of("DENSEGEN_BENCH_VERSIONS", ["direct", "tiled", "pipelined", "banded"])
        .Select(v => ComputeDevice.ParseConvolution(v)).ToArray();

    /// <summary>The values of <paramref name="variable"/> (comma-separated, each one of <paramref name="all"/>), or all.</summary>
    public static string[] Of(string variable, string[] all) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } chosen
            ? chosen.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(v => all.FirstOrDefault(a => a.Equals(v, StringComparison.OrdinalIgnoreCase))
                ?? throw new ArgumentException($"{variable}: '{v}' is none of {string.Join(", ", all)}")).ToArray()
            : all;
}
