using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using DenseGen.TestSupport;
using Xunit;

namespace DenseGen.Generators.Tests;

/// <summary>
/// The generated sources of the samples in dsl-samples/, compared with the accepted snapshots. A change to the
/// emitter shows up here as a readable diff of the code users get.
/// </summary>
public class SnapshotTests
{
    [Fact]
    public void CifarNetworks() => VerifySample("CifarNetworks");

    [Fact]
    public void ImageNetNetworks() => VerifySample("ImageNetNetworks");

    [Fact]
    public void DiagnosticsOfABadDeclaration()
    {
        const string source = """
            using DenseGen;

            [DenseNet(Classes = 0, InputSize = 4)]
            [DenseBlock(Layers = 12, Growth = -3, DropRate = 1.5)]
            [Transition(Compression = 0)]
            [Transition]
            [DenseBlock(Layers = 12, Growth = 12, BottleneckWidth = 2)]
            [Stem(Channels = 24)]
            public class BrokenNetwork { }

            [CifarDenseNet(Depth = 101, Growth = 12, Variant = DenseNetVariant.BC)]
            public partial class WrongDepth { }
            """;
        var run = Harness.Run(source);
        Assert.Empty(run.Sources);
        Snapshot.Verify(DiagnosticText.Format(run.Diagnostics));
    }

    private static void VerifySample(string sample, [CallerMemberName] string method = "", [CallerFilePath] string file = "")
    {
        string path = Path.Combine(Repository.Root, "dsl-samples", sample, "Models.cs");
        var run = Harness.Run(Harness.Compilation(("Models.cs", File.ReadAllText(path))));
        Assert.Empty(run.Diagnostics);
        Assert.Empty(run.CompilerProblems);
        Assert.NotEmpty(run.Sources);
        foreach (var source in run.Sources.OrderBy(s => s.HintName))
            Snapshot.Verify(source.SourceText.ToString(), source.HintName[..^".cs".Length], "cs", file, method);
    }
}
