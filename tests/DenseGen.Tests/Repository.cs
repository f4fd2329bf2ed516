using System;
using System.IO;

namespace DenseGen.Tests;

internal static class Repository
{
    /// <summary>The folder holding DenseGen.sln, found from the test binaries upward.</summary>
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "DenseGen.sln"))) return dir.FullName;
        throw new InvalidOperationException($"DenseGen.sln not found above {AppContext.BaseDirectory}");
    }
}
