using DenseGen.Generators.Emitting;
using DenseGen.Generators.Parsing;
using DenseGen.Generators.Planning;
using Microsoft.CodeAnalysis;

namespace DenseGen.Generators;

/// <summary>
/// Turns DenseGen attributes on a partial class into a typed model. Pipeline per root attribute:
/// ForAttributeWithMetadataName -> <see cref="Parser"/> (symbols to an equatable spec, plus diagnostics)
/// -> <see cref="Planner"/> (pure: shapes, offsets, counts) -> <see cref="Emitter"/> (pure: C# text).
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class DenseNetGenerator : IIncrementalGenerator
{
    /// <summary>Names of the pipeline steps, so tests can assert which ones are cached.</summary>
    public static class TrackingNames
    {
        public const string Parse = "DenseGen.Parse";
        public const string Plan = "DenseGen.Plan";
        public const string Diagnostics = "DenseGen.Diagnostics";
        public const string Orphans = "DenseGen.Orphans";
    }

    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        foreach (string root in KnownAttributes.Roots)
        {
            var parsed = context.SyntaxProvider
                .ForAttributeWithMetadataName(root, Parser.IsCandidate, Parser.ParseNetwork)
                .WithTrackingName(TrackingNames.Parse)
                .Where(static result => result is not null)
                .Select(static (result, _) => result!);

            var diagnostics = parsed.SelectMany(static (result, _) => result.Diagnostics).WithTrackingName(TrackingNames.Diagnostics);
            context.RegisterSourceOutput(diagnostics, static (output, diagnostic) => output.ReportDiagnostic(diagnostic.ToDiagnostic()));

            var plans = parsed
                .Where(static result => result.Spec is not null)
                .Select(static (result, _) => Planner.Plan(result.Spec!))
                .WithTrackingName(TrackingNames.Plan);
            context.RegisterSourceOutput(plans, static (output, plan) => output.AddSource(Emitter.HintName(plan), Emitter.Emit(plan)));
        }

        // [Stem], [DenseBlock] or [Transition] without a network attribute: say so instead of silently ignoring them.
        foreach (string part in KnownAttributes.Parts)
        {
            var orphans = context.SyntaxProvider
                .ForAttributeWithMetadataName(part, Parser.IsCandidate, Parser.ParseOrphanParts)
                .Where(static result => result is not null)
                .SelectMany(static (result, _) => result!.Diagnostics)
                .WithTrackingName(TrackingNames.Orphans);
            context.RegisterSourceOutput(orphans, static (output, diagnostic) => output.ReportDiagnostic(diagnostic.ToDiagnostic()));
        }
    }
}
