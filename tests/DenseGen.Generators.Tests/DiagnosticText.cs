using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace DenseGen.Generators.Tests;

internal static class DiagnosticText
{
    /// <summary>One line per diagnostic: file(line,col): severity id: message, sorted by position.</summary>
    public static string Format(IEnumerable<Diagnostic> diagnostics) => string.Join("\n", diagnostics
        .OrderBy(d => d.Location.SourceSpan.Start).ThenBy(d => d.Id)
        .Select(d =>
        {
            var span = d.Location.GetLineSpan();
            return $"{span.Path}({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1}): " +
                   $"{d.Severity.ToString().ToLowerInvariant()} {d.Id}: {d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}";
        })) + "\n";
}
