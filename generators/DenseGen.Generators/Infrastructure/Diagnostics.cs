using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace DenseGen.Generators.Infrastructure;

/// <summary>
/// Every diagnostic DenseGen reports. Each message says what is wrong and what to write instead; the README's
/// diagnostics table lists them all (a test keeps the two in step).
/// </summary>
internal static class Diagnostics
{
    private const string Category = "DenseGen";

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    private static DiagnosticDescriptor Warning(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Warning, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NotPartial = Error("DG0001",
        "A DenseNet class must be partial",
        "'{0}' declares a DenseNet but is not partial; write 'partial class {0}' so DenseGen can add the generated members");

    public static readonly DiagnosticDescriptor ContainingTypeNotPartial = Error("DG0002",
        "Types containing a DenseNet class must be partial",
        "'{0}' is nested in '{1}', which is not partial; make '{1}' partial or move '{0}' out of it");

    public static readonly DiagnosticDescriptor GenericNotSupported = Error("DG0003",
        "A DenseNet class cannot be generic",
        "'{0}' is generic or nested in a generic type; declare the network on a non-generic class");

    public static readonly DiagnosticDescriptor StaticNotSupported = Error("DG0004",
        "A DenseNet class cannot be static",
        "'{0}' is static; remove 'static' (the generated model implements IDenseNetModel)");

    public static readonly DiagnosticDescriptor MustBePositive = Error("DG0010",
        "Value must be positive",
        "{0} must be at least 1, but is {1}; write for example {0} = {2}");

    public static readonly DiagnosticDescriptor TooLarge = Error("DG0011",
        "Value too large",
        "{0} = {1} is too large; use at most {2}");

    public static readonly DiagnosticDescriptor DropRateOutOfRange = Error("DG0012",
        "Dropout rate out of range",
        "DropRate must be in [0, 1), but is {0}; write for example DropRate = 0.2, or leave it out for no dropout");

    public static readonly DiagnosticDescriptor CompressionOutOfRange = Error("DG0013",
        "Compression out of range",
        "Compression must be in (0, 1], but is {0}; write Compression = 0.5 (DenseNet-C and -BC) or leave it out for none");

    public static readonly DiagnosticDescriptor InputTooSmall = Error("DG0014",
        "Input too small for the downsamplings",
        "InputSize = {0} is too small for this network: {1} needs at least 2x2 pixels but gets {2}x{2}; use InputSize = {3} or more, or fewer transitions");

    public static readonly DiagnosticDescriptor CompressionLeavesNoChannels = Error("DG0015",
        "Transition would have no output channels",
        "Compression = {0} leaves transition {1} with floor({0} x {2}) = 0 output channels; use Compression = {3} or more");

    public static readonly DiagnosticDescriptor NoDenseBlock = Error("DG0016",
        "A DenseNet needs a dense block",
        "'{0}' declares no dense block; add at least one [DenseBlock(Layers = 16, Growth = 12)]");

    public static readonly DiagnosticDescriptor TransitionNotFollowedByBlock = Error("DG0017",
        "Transition without a dense block after it",
        "This transition is not followed by a dense block; a [Transition] goes between two [DenseBlock] attributes: remove it or add a [DenseBlock] after it");

    public static readonly DiagnosticDescriptor TransitionNotAfterBlock = Error("DG0018",
        "Transition without a dense block before it",
        "This transition does not follow a dense block; a [Transition] goes between two [DenseBlock] attributes: remove it or add a [DenseBlock] before it");

    public static readonly DiagnosticDescriptor DuplicateStem = Error("DG0019",
        "More than one stem",
        "'{0}' has more than one [Stem]; a network has one stem: remove this one");

    public static readonly DiagnosticDescriptor StemNotFirst = Error("DG0020",
        "Stem after a dense block",
        "[Stem] must come before the first [DenseBlock]; move it up, right under [DenseNet]");

    public static readonly DiagnosticDescriptor InvalidCifarDepth = Error("DG0021",
        "Depth not in the paper's family",
        "Depth = {0} is not a depth of the paper's {1} family, which needs {2}; use {3} or {4}, the nearest valid depths");

    public static readonly DiagnosticDescriptor InvalidImageNetDepth = Error("DG0022",
        "Not an ImageNet DenseNet",
        "Depth = {0} is not one of the paper's ImageNet networks; use 121, 161, 169, 201 or 264, or declare the layers with [DenseNet] and [DenseBlock]");

    public static readonly DiagnosticDescriptor ConflictingDeclarations = Error("DG0023",
        "Conflicting network declarations",
        "'{0}' is declared by [{1}], so [{2}] conflicts with it; remove one of them ({3})");

    public static readonly DiagnosticDescriptor MissingNetworkAttribute = Error("DG0024",
        "Layer attribute without a network",
        "[{0}] on '{1}' has no effect without [DenseNet]; add [DenseNet(Classes = 10, InputSize = 32)] above it, or use a preset such as [CifarDenseNet(Depth = 100, Growth = 12, Variant = DenseNetVariant.BC)]");

    public static readonly DiagnosticDescriptor InvalidEnumValue = Error("DG0025",
        "Unknown enum value",
        "{0} = {1} is not a valid {2}; use one of {3}");

    public static readonly DiagnosticDescriptor NetworkTooLarge = Error("DG0026",
        "Network too large",
        "This network is too large to plan: {0}; use fewer layers, a smaller growth rate or a smaller input");

    public static readonly DiagnosticDescriptor SplitDeclaration = Error("DG0027",
        "DenseNet attributes on several declarations",
        "The DenseGen attributes of '{0}' are spread over several partial declarations; put them all on one, so their order is defined");

    public static readonly DiagnosticDescriptor CompressionIgnored = Warning("DG0028",
        "Compression has no effect",
        "Compression = {0} has no effect with Variant = {1}; use Variant = DenseNetVariant.C or DenseNetVariant.BC to compress, or remove it");

    public static readonly DiagnosticDescriptor BottleneckWidthIgnored = Warning("DG0029",
        "BottleneckWidth has no effect",
        "BottleneckWidth = {0} has no effect without a bottleneck; add Bottleneck = true, or remove it");

    public static IReadOnlyList<DiagnosticDescriptor> All { get; } = typeof(Diagnostics)
        .GetFields()
        .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
        .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
        .OrderBy(d => d.Id)
        .ToArray();

    private static readonly Dictionary<string, DiagnosticDescriptor> s_byId = All.ToDictionary(d => d.Id);

    public static DiagnosticDescriptor ById(string id) => s_byId[id];
}
