using System;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace DenseGen.Generators.Infrastructure;

/// <summary>
/// Where a diagnostic points, without holding a <see cref="Location"/> (which keeps a whole syntax tree alive and
/// compares by reference).
/// </summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);

    public static LocationInfo? From(SyntaxNode? node) => node is null ? null : From(node.GetLocation());

    public static LocationInfo? From(Location? location) =>
        location?.SourceTree is null ? null : new(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);
}

/// <summary>A diagnostic as an equatable value: its descriptor id, location and message arguments.</summary>
internal sealed record DiagnosticInfo(string Id, LocationInfo? Location, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, LocationInfo? location, params object[] arguments) =>
        new(descriptor.Id, location, arguments.Select(a => Convert.ToString(a, System.Globalization.CultureInfo.InvariantCulture) ?? "").ToEquatableArray());

    public Diagnostic ToDiagnostic() =>
        Diagnostic.Create(Diagnostics.ById(Id), Location?.ToLocation(), Arguments.Cast<object>().ToArray());
}
