using System.Collections.Generic;
using System.Text.RegularExpressions;

namespace DenseGen.Tests;

/// <summary>
/// ILGPU suffixes names in its PTX and OpenCL C with IR node ids, counted over the whole process, so two compiles of
/// one kernel differ in them: <see cref="Renumbered"/> numbers them by first appearance instead.
/// </summary>
internal static class IlgpuNames
{
    /// <summary><paramref name="text"/> with the id (group 2) of every match of <paramref name="pattern"/> renumbered by first appearance.</summary>
    public static string Renumbered(string text, string pattern)
    {
        var ids = new Dictionary<string, int>();
        return Regex.Replace(text, pattern, m => m.Groups[1].Value + "_" + (ids.TryGetValue(m.Groups[2].Value, out int id) ? id : ids[m.Groups[2].Value] = ids.Count));
    }
}
