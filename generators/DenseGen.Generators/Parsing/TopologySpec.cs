using DenseGen.Generators.Infrastructure;

namespace DenseGen.Generators.Parsing;

/// <summary>The C# declaration the generated code must re-open: namespace, containing types and the class.</summary>
/// <param name="Namespace">Namespace, or empty for the global namespace.</param>
/// <param name="ContainingTypes">Outer types, outermost first, each as "keyword Name" ("partial class Outer").</param>
/// <param name="Keyword">"class" or "record".</param>
/// <param name="Name">The class name.</param>
internal sealed record TargetType(string Namespace, EquatableArray<string> ContainingTypes, string Keyword, string Name)
{
    public string FullName => (Namespace.Length == 0 ? "" : Namespace + ".") +
        string.Concat(System.Linq.Enumerable.Select(ContainingTypes, t => t.Substring(t.LastIndexOf(' ') + 1) + ".")) + Name;
}

/// <summary>The stem as declared: kind and output channels.</summary>
internal sealed record StemSpec(StemKindSpec Kind, int Channels);

/// <summary>Mirror of DenseGen.StemKind (the generator cannot reference the runtime assembly).</summary>
internal enum StemKindSpec { Cifar = 0, ImageNet = 1 }

/// <summary>One element of the body: a dense block or a transition, in declaration order.</summary>
internal sealed record StageSpec(
    bool IsTransition, int Layers, int Growth, bool Bottleneck, int BottleneckWidth, double DropRate, double Compression)
{
    public static StageSpec Block(int layers, int growth, bool bottleneck, int bottleneckWidth, double dropRate) =>
        new(false, layers, growth, bottleneck, bottleneckWidth, dropRate, 1.0);

    public static StageSpec Transition(double compression) => new(true, 0, 0, false, 0, 0, compression);
}

/// <summary>
/// A whole declared network, after presets are expanded: the equatable model between the parser and the planner.
/// It holds no symbols, syntax or locations, so an edit elsewhere leaves it equal and the pipeline cached.
/// </summary>
internal sealed record TopologySpec(
    TargetType Target, string DisplayName, int Classes, int InputChannels, int InputSize,
    StemSpec Stem, EquatableArray<StageSpec> Stages);

/// <summary>What the parser hands on: a valid spec, or none, and the diagnostics either way.</summary>
internal sealed record ParseResult(TopologySpec? Spec, EquatableArray<DiagnosticInfo> Diagnostics);
