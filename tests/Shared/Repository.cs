using System;
using System.IO;

namespace DenseGen.TestSupport;

/// <summary>The folder holding DenseGen.sln, found from the test binaries upward (shared by the test projects).</summary>
internal static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "DenseGen.sln"))) return dir.FullName;
        throw new InvalidOperationException($"DenseGen.sln not found above {AppContext.BaseDirectory}");
    }
}
