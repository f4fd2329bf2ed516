using System;
using System.IO;
using System.Runtime.CompilerServices;
using System.Text;
using DiffPlex.DiffBuilder;
using DiffPlex.DiffBuilder.Model;
using Xunit.Sdk;

namespace DenseGen.Generators.Tests;

/// <summary>
/// Snapshot testing in Verify's file conventions (Verify itself cannot be restored here, see DESIGN §6):
/// <c>Snapshots/{Class}.{Method}#{Name}.verified.{ext}</c> is the accepted text; a mismatch writes
/// <c>.received.{ext}</c> beside it and fails with a line diff. Set DENSEGEN_ACCEPT_SNAPSHOTS=1 to accept received
/// text (never honoured when CI=true). Moving to Verify later changes nothing on disk.
/// </summary>
internal static class Snapshot
{
    public static void Verify(string actual, string? name = null, string extension = "txt",
        [CallerFilePath] string callerFile = "", [CallerMemberName] string method = "")
    {
        string className = Path.GetFileNameWithoutExtension(callerFile);
        string directory = Path.Combine(Path.GetDirectoryName(callerFile)!, "Snapshots");
        string stem = Path.Combine(directory, $"{className}.{method}{(name is null ? "" : "#" + name)}");
        string verifiedPath = $"{stem}.verified.{extension}", receivedPath = $"{stem}.received.{extension}";
        actual = actual.Replace("\r\n", "\n");
        string? expected = File.Exists(verifiedPath) ? File.ReadAllText(verifiedPath).Replace("\r\n", "\n") : null;
        if (expected == actual)
        {
            if (File.Exists(receivedPath)) File.Delete(receivedPath);
            return;
        }

        Directory.CreateDirectory(directory);
        bool accept = Environment.GetEnvironmentVariable("DENSEGEN_ACCEPT_SNAPSHOTS") == "1"
                      && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (accept)
        {
            File.WriteAllText(verifiedPath, actual);
            if (File.Exists(receivedPath)) File.Delete(receivedPath);
            return;
        }
        File.WriteAllText(receivedPath, actual);
        throw new XunitException(expected is null
            ? $"No snapshot yet: {verifiedPath}\nThe received text is in {receivedPath}; review it, then rename it to .verified " +
              "or rerun with DENSEGEN_ACCEPT_SNAPSHOTS=1."
            : $"Snapshot differs from {verifiedPath} (received: {receivedPath}):\n{Diff(expected, actual)}");
    }

    /// <summary>The changed lines with two lines of context, '-' for the snapshot, '+' for the received text.</summary>
    private static string Diff(string expected, string actual)
    {
        var lines = InlineDiffBuilder.Diff(expected, actual, ignoreWhiteSpace: false).Lines;
        var text = new StringBuilder();
        int shown = 0, lastPrinted = -10;
        for (int i = 0; i < lines.Count && shown < 60; i++)
        {
            bool near = false;
            for (int j = Math.Max(0, i - 2); j <= Math.Min(lines.Count - 1, i + 2); j++) near |= lines[j].Type != ChangeType.Unchanged;
            if (!near) continue;
            if (i > lastPrinted + 1) text.AppendLine("@@");
            string mark = lines[i].Type switch { ChangeType.Inserted => "+", ChangeType.Deleted => "-", _ => " " };
            text.AppendLine($"{mark} {lines[i].Text}");
            lastPrinted = i;
            shown++;
        }
        return text.ToString();
    }
}
