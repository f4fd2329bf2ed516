using System.Collections.Generic;
using System.Text.RegularExpressions;

namespace DenseGen.Execution;

/// <summary>
/// ILGPU names an OpenCL kernel's types and labels after IR node ids (type_1797286, L_165680), which depend on what
/// ILGPU compiled before in the process, so one kernel reached the driver under ever other names. PoCL compiles two
/// spellings of one program to code that rounds differently: CI's MNIST run ended at 96.75 % or 96.90 % depending on
/// whether the test process or the training process had stored a kernel's text first (benchmarks/RESULTS.md, ninth
/// session). Renumbered by first appearance, per kind of name, the text a driver builds depends only on the kernel and
/// this build, whichever process stored it: the same bits in every run, and the driver's cache (keyed by the text)
/// serves it.
/// </summary>
internal static partial class KernelTextNames
{
    [GeneratedRegex(@"\b(type|L)_(\d+)(?!\d)")]
    private static partial Regex IdNames();

    /// <summary><paramref name="source"/> with ILGPU's id-named types and labels numbered from 0 in order of first appearance.</summary>
    public static string Renumber(string source)
    {
        var names = new Dictionary<string, string>();
        var counts = new Dictionary<string, int>();
        return IdNames().Replace(source, m =>
        {
            if (names.TryGetValue(m.Value, out var name)) return name;
            string kind = m.Groups[1].Value;
            counts.TryGetValue(kind, out int next);
            counts[kind] = next + 1;
            return names[m.Value] = $"{kind}_{next}";
        });
    }
}
