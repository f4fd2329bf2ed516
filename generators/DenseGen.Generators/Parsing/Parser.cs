using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using DenseGen.Generators.Infrastructure;
using DenseGen.Generators.Planning;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using static DenseGen.Generators.Parsing.KnownAttributes;

namespace DenseGen.Generators.Parsing;

/// <summary>
/// Reads the DenseGen attributes of one class into a <see cref="TopologySpec"/>. The only code of the generator
/// that touches symbols and syntax. Every problem becomes a <see cref="DiagnosticInfo"/> pointing at the argument
/// at fault; a spec is returned only when there is no error, so the planner and emitter never see bad input.
/// </summary>
internal static class Parser
{
    /// <summary>Syntax filter of the pipelines: classes and records.</summary>
    public static bool IsCandidate(SyntaxNode node, CancellationToken _) =>
        node is ClassDeclarationSyntax or RecordDeclarationSyntax;

    /// <summary>
    /// Transform of a root attribute's pipeline. Returns null unless this root is the first DenseGen root of the
    /// class (so one class yields one result, whichever pipelines fire).
    /// </summary>
    public static ParseResult? ParseNetwork(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol is not INamedTypeSymbol type || context.TargetNode is not TypeDeclarationSyntax node) return null;
        var attributes = ReadAttributes(type, cancellationToken);
        var roots = attributes.Where(a => IsRoot(a.Name)).ToList();
        if (roots.Count == 0 || !IsOwnedBy(roots[0], context)) return null;
        if (attributes.Any(a => a.HasErrors)) return null; // the compiler reports bad arguments itself

        var diagnostics = new List<DiagnosticInfo>();
        var target = ReadTarget(type, node, diagnostics);
        foreach (var attribute in attributes.Where(a => !node.Span.Contains(a.Syntax.Span) || a.Syntax.SyntaxTree != node.SyntaxTree))
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.SplitDeclaration, attribute.Location, type.Name));

        var root = roots[0];
        foreach (var other in attributes.Where(a => a != root && (IsRoot(a.Name) || root.Name != DenseNet)))
        {
            string advice = IsRoot(other.Name)
                ? "a class declares one network"
                : $"a preset declares every layer itself; to write the layers out, replace [{root.ShortName}] with [DenseNet]";
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.ConflictingDeclarations, other.Location, type.Name, root.ShortName, other.ShortName, advice));
        }

        var reader = new SpecReader(type.Name, diagnostics);
        var spec = root.Name switch
        {
            DenseNet => reader.ReadExplicit(target, root, attributes.Where(a => IsPart(a.Name)).ToList(), node),
            CifarDenseNet => reader.ReadCifarPreset(target, root),
            _ => reader.ReadImageNetPreset(target, root),
        };
        if (target is null || diagnostics.Any(d => Diagnostics.ById(d.Id).DefaultSeverity == DiagnosticSeverity.Error)) spec = null;
        if (spec is not null && !Planner.TryPlan(spec, out _, out var problem))
        {
            diagnostics.Add(reader.Describe(problem!, spec, root));
            spec = null;
        }
        return new ParseResult(spec, diagnostics.ToEquatableArray());
    }

    /// <summary>
    /// Transform of the [Stem], [DenseBlock] and [Transition] pipelines: reports those attributes when the class has
    /// no [DenseNet] to give them meaning (once per class).
    /// </summary>
    public static ParseResult? ParseOrphanParts(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol is not INamedTypeSymbol type) return null;
        var attributes = ReadAttributes(type, cancellationToken);
        if (attributes.Any(a => IsRoot(a.Name))) return null;
        var first = attributes.FirstOrDefault(a => IsPart(a.Name));
        if (first is null || !IsOwnedBy(first, context)) return null;
        var diagnostic = DiagnosticInfo.Create(Diagnostics.MissingNetworkAttribute, first.Location, first.ShortName, type.Name);
        return new ParseResult(null, new[] { diagnostic }.ToEquatableArray());
    }

    /// <summary>DenseGen attributes of the class in source order (file, then position).</summary>
    private static List<AttributeArguments> ReadAttributes(INamedTypeSymbol type, CancellationToken cancellationToken) =>
        type.GetAttributes()
            .Select(a => AttributeArguments.From(a, cancellationToken))
            .Where(a => a is not null)
            .Select(a => a!)
            .OrderBy(a => a.Syntax.SyntaxTree.FilePath, StringComparer.Ordinal)
            .ThenBy(a => a.Syntax.SpanStart)
            .ToList();

    /// <summary>True when <paramref name="attribute"/> is one of the attributes this pipeline invocation fired for.</summary>
    private static bool IsOwnedBy(AttributeArguments attribute, GeneratorAttributeSyntaxContext context) =>
        context.Attributes.Any(a =>
            a.ApplicationSyntaxReference is { } reference &&
            reference.SyntaxTree == attribute.Syntax.SyntaxTree &&
            reference.Span == attribute.Syntax.Span);

    /// <summary>Checks the class can take generated members and describes its declaration.</summary>
    private static TargetType? ReadTarget(INamedTypeSymbol type, TypeDeclarationSyntax node, List<DiagnosticInfo> diagnostics)
    {
        int before = diagnostics.Count;
        var identifier = LocationInfo.From(node.Identifier.GetLocation());
        if (!node.Modifiers.Any(SyntaxKind.PartialKeyword))
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.NotPartial, identifier, type.Name));
        if (node.Modifiers.Any(SyntaxKind.StaticKeyword))
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.StaticNotSupported, identifier, type.Name));
        for (var t = type; t is not null; t = t.ContainingType)
        {
            if (t.IsGenericType)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.GenericNotSupported, identifier, type.Name));
                break;
            }
        }

        var containing = new List<string>();
        for (var parent = node.Parent as TypeDeclarationSyntax; parent is not null; parent = parent.Parent as TypeDeclarationSyntax)
        {
            if (!parent.Modifiers.Any(SyntaxKind.PartialKeyword))
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.ContainingTypeNotPartial, identifier, type.Name, parent.Identifier.ValueText));
            containing.Insert(0, $"partial {Keyword(parent)} {parent.Identifier.ValueText}");
        }
        if (diagnostics.Count > before) return null;
        string ns = type.ContainingNamespace.IsGlobalNamespace ? "" : type.ContainingNamespace.ToDisplayString();
        return new TargetType(ns, containing.ToEquatableArray(), Keyword(node), type.Name);
    }

    private static string Keyword(TypeDeclarationSyntax declaration) => declaration is RecordDeclarationSyntax record
        ? (record.ClassOrStructKeyword.IsKind(SyntaxKind.None) ? "record" : "record " + record.ClassOrStructKeyword.ValueText)
        : declaration.Keyword.ValueText;

    /// <summary>Reads and checks arguments, collecting diagnostics; knows where each stage was declared.</summary>
    private sealed class SpecReader
    {
        private readonly string _typeName;
        private readonly List<DiagnosticInfo> _diagnostics;
        // For each stage of the spec: the location a plan problem of that stage points at.
        private readonly List<LocationInfo?> _stageLocations = [];
        private LocationInfo? _inputSizeLocation;

        public SpecReader(string typeName, List<DiagnosticInfo> diagnostics)
        {
            _typeName = typeName;
            _diagnostics = diagnostics;
        }

        public TopologySpec? ReadExplicit(TargetType? target, AttributeArguments root, List<AttributeArguments> parts, TypeDeclarationSyntax node)
        {
            var (classes, inputChannels, inputSize) = ReadInput(root, Defaults.Classes, Defaults.InputSize);
            var stem = new StemSpec(StemKindSpec.Cifar, Defaults.StemChannels);
            var stems = parts.Where(p => p.Name == Stem).ToList();
            if (stems.Count > 0)
            {
                var s = stems[0];
                int kind = s.Int("Kind", 0);
                if (kind is not (0 or 1))
                    Add(Diagnostics.InvalidEnumValue, s.LocationOf("Kind"), "Kind", kind, "StemKind", "StemKind.Cifar or StemKind.ImageNet");
                stem = new StemSpec(kind == 1 ? StemKindSpec.ImageNet : StemKindSpec.Cifar,
                    Count(s, "Channels", Defaults.StemChannels, example: 16));
                foreach (var extra in stems.Skip(1)) Add(Diagnostics.DuplicateStem, extra.Location, _typeName);
            }

            var stages = new List<StageSpec>();
            bool seenBody = false;
            for (int i = 0; i < parts.Count; i++)
            {
                var part = parts[i];
                if (part.Name == Stem)
                {
                    if (seenBody && part == stems[0]) Add(Diagnostics.StemNotFirst, part.Location);
                    continue;
                }
                seenBody = true;
                if (part.Name == Transition)
                {
                    bool afterBlock = stages.Count > 0 && !stages[stages.Count - 1].IsTransition;
                    bool beforeBlock = parts.Skip(i + 1).FirstOrDefault(p => p.Name != Stem)?.Name == DenseBlock;
                    // Two transitions in a row: the first already got DG0017, one report is enough.
                    if (stages.Count == 0) Add(Diagnostics.TransitionNotAfterBlock, part.Location);
                    else if (afterBlock && !beforeBlock) Add(Diagnostics.TransitionNotFollowedByBlock, part.Location);
                    stages.Add(StageSpec.Transition(Compression(part, "Compression", Defaults.Compression)));
                    _stageLocations.Add(part.LocationOf("Compression"));
                    continue;
                }
                int layers = Count(part, "Layers", 0, example: 16);
                int growth = Count(part, "Growth", 0, example: 12);
                bool bottleneck = part.Bool("Bottleneck", false);
                int width = Count(part, "BottleneckWidth", Defaults.BottleneckWidth, example: 4, max: 1000);
                if (!bottleneck && part.IsSet("BottleneckWidth"))
                    Add(Diagnostics.BottleneckWidthIgnored, part.LocationOf("BottleneckWidth"), width);
                stages.Add(StageSpec.Block(layers, growth, bottleneck, width, DropRate(part)));
                _stageLocations.Add(part.Location);
            }
            if (!stages.Any(s => !s.IsTransition))
                Add(Diagnostics.NoDenseBlock, LocationInfo.From(node.Identifier.GetLocation()), _typeName);
            return target is null ? null : new TopologySpec(target, _typeName, classes, inputChannels, inputSize, stem, stages.ToEquatableArray());
        }

        public TopologySpec? ReadCifarPreset(TargetType? target, AttributeArguments root)
        {
            var (classes, inputChannels, inputSize) = ReadInput(root, Defaults.Classes, Defaults.InputSize);
            int depth = Count(root, "Depth", 0, example: 100);
            int growth = Count(root, "Growth", 0, example: 12);
            int variant = root.Int("Variant", 0);
            if (variant is < 0 or > 3)
            {
                Add(Diagnostics.InvalidEnumValue, root.LocationOf("Variant"), "Variant", variant, "DenseNetVariant",
                    "DenseNetVariant.Basic, B, C or BC");
                return null;
            }
            bool bottleneck = variant is 1 or 3, compressed = variant is 2 or 3;
            string family = variant switch { 1 => "DenseNet-B", 2 => "DenseNet-C", 3 => "DenseNet-BC", _ => "DenseNet" };
            double compression = 1.0;
            if (compressed) compression = Compression(root, "Compression", Defaults.PresetCompression);
            else if (root.IsSet("Compression"))
                Add(Diagnostics.CompressionIgnored, root.LocationOf("Compression"),
                    Format(root.Double("Compression", 1.0)), variant == 1 ? "DenseNetVariant.B" : "DenseNetVariant.Basic");
            double dropRate = DropRate(root);
            if (HasErrors) return null;

            // (L - 4) / 3 layers a block, halved with bottlenecks: stem, two transitions and the classifier are the 4.
            int divisor = bottleneck ? 6 : 3;
            if (depth <= 4 || (depth - 4) % divisor != 0)
            {
                int lower = 4 + divisor * Math.Max(1, (depth - 4) / divisor);
                Add(Diagnostics.InvalidCifarDepth, root.LocationOf("Depth"), depth, family,
                    $"(Depth - 4) divisible by {divisor}", lower, lower + divisor);
                return null;
            }
            int layers = (depth - 4) / divisor;
            var block = StageSpec.Block(layers, growth, bottleneck, Defaults.BottleneckWidth, dropRate);
            var transition = StageSpec.Transition(compression);
            _stageLocations.AddRange([root.Location, root.LocationOf("Compression"), root.Location, root.LocationOf("Compression"), root.Location]);
            int stemChannels = variant == 3 ? checked(2 * growth) : 16; // the paper: 16, or 2k for DenseNet-BC
            return target is null ? null : new TopologySpec(target, $"{family} (L={depth}, k={growth})", classes, inputChannels, inputSize,
                new StemSpec(StemKindSpec.Cifar, stemChannels), new[] { block, transition, block, transition, block }.ToEquatableArray());
        }

        public TopologySpec? ReadImageNetPreset(TargetType? target, AttributeArguments root)
        {
            var (classes, inputChannels, inputSize) = ReadInput(root, Defaults.ImageNetClasses, Defaults.ImageNetInputSize);
            int depth = root.Int("Depth", 0);
            double dropRate = DropRate(root);
            // Table 1 of the paper (DenseNet-161 from the reference code): growth rate, stem width, block lengths.
            (int Growth, int Stem, int[] Blocks)? preset = depth switch
            {
                121 => (32, 64, [6, 12, 24, 16]),
                161 => (48, 96, [6, 12, 36, 24]),
                169 => (32, 64, [6, 12, 32, 32]),
                201 => (32, 64, [6, 12, 48, 32]),
                264 => (32, 64, [6, 12, 64, 48]),
                _ => null,
            };
            if (preset is not { } p)
            {
                Add(Diagnostics.InvalidImageNetDepth, root.LocationOf("Depth"), depth);
                return null;
            }
            var stages = new List<StageSpec>();
            foreach (int layers in p.Blocks)
            {
                if (stages.Count > 0)
                {
                    stages.Add(StageSpec.Transition(Defaults.PresetCompression));
                    _stageLocations.Add(root.Location);
                }
                stages.Add(StageSpec.Block(layers, p.Growth, true, Defaults.BottleneckWidth, dropRate));
                _stageLocations.Add(root.Location);
            }
            return target is null ? null : new TopologySpec(target, $"DenseNet-{depth}", classes, inputChannels, inputSize,
                new StemSpec(StemKindSpec.ImageNet, p.Stem), stages.ToEquatableArray());
        }

        /// <summary>Turns a problem found by the planner into a diagnostic at the argument responsible.</summary>
        public DiagnosticInfo Describe(PlanProblem problem, TopologySpec spec, AttributeArguments root)
        {
            var stageLocation = problem.StageIndex >= 0 && problem.StageIndex < _stageLocations.Count
                ? _stageLocations[problem.StageIndex] : root.Location;
            return problem.Kind switch
            {
                PlanProblemKind.InputTooSmall => DiagnosticInfo.Create(Diagnostics.InputTooSmall, _inputSizeLocation,
                    spec.InputSize, problem.Detail, problem.Value1, Planner.MinimumInputSize(spec)),
                PlanProblemKind.CompressionLeavesNoChannels => DiagnosticInfo.Create(Diagnostics.CompressionLeavesNoChannels, stageLocation,
                    Format(spec.Stages[problem.StageIndex].Compression), problem.Value1, problem.Value2,
                    Format(Math.Ceiling(10000.0 / problem.Value2) / 10000.0)),
                _ => DiagnosticInfo.Create(Diagnostics.NetworkTooLarge, stageLocation, problem.Detail),
            };
        }

        private (int Classes, int InputChannels, int InputSize) ReadInput(AttributeArguments root, int defaultClasses, int defaultSize)
        {
            _inputSizeLocation = root.LocationOf("InputSize");
            return (Count(root, "Classes", defaultClasses, example: 10),
                    Count(root, "InputChannels", Defaults.InputChannels, example: 3),
                    Count(root, "InputSize", defaultSize, example: 32));
        }

        /// <summary>A count that must be at least 1 and at most <paramref name="max"/>.</summary>
        private int Count(AttributeArguments attribute, string property, int fallback, int example, int max = Planner.MaxDimension)
        {
            int value = attribute.Int(property, fallback);
            if (value < 1) Add(Diagnostics.MustBePositive, attribute.LocationOf(property), property, value, example);
            else if (value > max) Add(Diagnostics.TooLarge, attribute.LocationOf(property), property, value, max);
            return value;
        }

        private double Compression(AttributeArguments attribute, string property, double fallback)
        {
            double value = attribute.Double(property, fallback);
            if (!(value > 0 && value <= 1)) Add(Diagnostics.CompressionOutOfRange, attribute.LocationOf(property), Format(value));
            return value;
        }

        private double DropRate(AttributeArguments attribute)
        {
            double value = attribute.Double("DropRate", 0);
            if (!(value >= 0 && value < 1)) Add(Diagnostics.DropRateOutOfRange, attribute.LocationOf("DropRate"), Format(value));
            return value;
        }

        private bool HasErrors => _diagnostics.Any(d => Diagnostics.ById(d.Id).DefaultSeverity == DiagnosticSeverity.Error);

        private void Add(DiagnosticDescriptor descriptor, LocationInfo? location, params object[] arguments) =>
            _diagnostics.Add(DiagnosticInfo.Create(descriptor, location, arguments));

        private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
    }
}
