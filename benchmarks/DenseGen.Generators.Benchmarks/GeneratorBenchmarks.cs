using System;
using System.IO;
using System.Linq;
using BenchmarkDotNet.Attributes;
using DenseGen.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;

namespace DenseGen.Generators.Benchmarks;

/// <summary>
/// What the generator costs a build and an editor on the largest network of the paper, DenseNet-264
/// (130 dense layers, 1,561 tensors, a 65 KB generated file).
/// FullRun: a first build: a new driver on a compilation with no semantic state cached (attributes bound anew).
/// UnrelatedEdit: a keystroke elsewhere: the warm driver on a new compilation where another file changed.
/// </summary>
[MemoryDiagnoser]
public class GeneratorBenchmarks
{
    private const string Model = """
        using DenseGen;
        namespace Bench;
        [ImageNetDenseNet(Depth = 264)]
        public partial class DenseNet264 { }
        """;

    private static readonly CSharpParseOptions s_parseOptions = new(LanguageVersion.Latest);
    private CSharpCompilation _compilation = null!;
    private GeneratorDriver _warmDriver = null!;
    private SyntaxTree _other = null!;
    private int _edits;

    [GlobalSetup]
    public void Setup()
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) == "netstandard.dll")
            .Append(typeof(DenseNetAttribute).Assembly.Location)
            .Select(p => MetadataReference.CreateFromFile(p));
        _other = CSharpSyntaxTree.ParseText("class Other { }", s_parseOptions, "Other.cs");
        _compilation = CSharpCompilation.Create("Bench",
            [CSharpSyntaxTree.ParseText(Model, s_parseOptions, "Models.cs"), _other], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        _warmDriver = NewDriver().RunGenerators(_compilation);
        if (_warmDriver.GetRunResult().GeneratedTrees.Length != 1) throw new InvalidOperationException("DenseNet-264 did not generate");
    }

    private static GeneratorDriver NewDriver() =>
        CSharpGeneratorDriver.Create([new DenseNetGenerator().AsSourceGenerator()], parseOptions: s_parseOptions);

    [Benchmark]
    public GeneratorDriver FullRun() => NewDriver().RunGenerators(_compilation.Clone());

    [Benchmark]
    public GeneratorDriver UnrelatedEdit()
    {
        var edited = _other.WithChangedText(SourceText.From($"class Other {{ int x{_edits++}; }}"));
        return _warmDriver.RunGenerators(_compilation.ReplaceSyntaxTree(_other, edited));
    }
}
