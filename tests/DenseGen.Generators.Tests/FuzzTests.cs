using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Xunit;

namespace DenseGen.Generators.Tests;

/// <summary>
/// A generator exception breaks the user's build (CS8785), so the generator is fed 10,000 random declarations:
/// any ints, NaN and huge doubles, undefined enum values, attributes in any order, missing or doubled. Each class
/// must come out as generated code that compiles, or as DG errors pointing into its declaration; never both,
/// never neither, never an exception.
/// </summary>
public class FuzzTests
{
    private const int Batches = 100, ClassesPerBatch = 100;

    private static readonly string[] s_ints =
        ["int.MinValue", "-1", "0", "1", "1", "2", "2", "3", "4", "4", "6", "7", "12", "12", "16", "24", "32", "40", "64",
         "100", "121", "161", "169", "190", "201", "250", "264", "1000", "65536", "1000001", "int.MaxValue"];

    private static readonly string[] s_doubles =
        ["0", "-0.0", "0.5", "0.5", "1", "1.5", "2", "0.2", "0.999999", "1e-300", "double.Epsilon", "1e308",
         "double.NaN", "double.PositiveInfinity", "double.NegativeInfinity", "-0.5"];

    [Fact]
    public void Ten_thousand_random_declarations_give_code_or_diagnostics_never_an_exception()
    {
        var random = new Random(20261126);
        int generated = 0, rejected = 0;
        for (int batch = 0; batch < Batches; batch++)
        {
            var source = new StringBuilder("using DenseGen;\nnamespace Fuzz;\n");
            var spans = new Dictionary<string, (int Start, int End)>();
            for (int i = 0; i < ClassesPerBatch; i++)
            {
                string name = $"M{batch}_{i}";
                int start = source.Length;
                source.Append(RandomDeclaration(random, name));
                spans[name] = (start, source.Length);
            }

            var run = Harness.Run(source.ToString());
            Assert.Null(run.Result.Exception);
            Assert.DoesNotContain(run.DriverDiagnostics, d => d.Id is "CS8785" or "CS8784");
            foreach (var d in run.Diagnostics)
            {
                Assert.StartsWith("DG", d.Id);
                // Generators report file locations (a LocationInfo keeps no syntax tree alive): path and span must be set.
                Assert.True(d.Location.GetLineSpan().Path == "Models.cs" && d.Location.SourceSpan.Length > 0, $"{d.Id} has no location: {d.GetMessage()}");
            }

            var hints = run.Sources.Select(s => s.HintName).ToHashSet();
            foreach (var (name, span) in spans)
            {
                bool hasCode = hints.Contains($"Fuzz.{name}.g.cs");
                bool hasError = run.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error &&
                    d.Location.SourceSpan.Start >= span.Start && d.Location.SourceSpan.End <= span.End);
                bool declaresNothing = !source.ToString(span.Start, span.End - span.Start).Contains('[');
                Assert.True(hasCode ^ hasError || (declaresNothing && !hasCode && !hasError),
                    $"{name}: code={hasCode}, error={hasError}\n{source.ToString(span.Start, span.End - span.Start)}\n{DiagnosticText.Format(run.Diagnostics)}");
                if (hasCode) generated++; else rejected++;
            }

            // Compiling every batch's output is slow; every tenth batch shows the generated code compiles.
            if (batch % 10 == 0)
            {
                var errors = run.Output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error &&
                    d.Location.SourceTree?.FilePath.EndsWith(".g.cs", StringComparison.Ordinal) == true).ToList();
                Assert.True(errors.Count == 0, string.Join("\n", errors.Take(5)));
            }
        }
        // The generator must have been exercised on both sides.
        Assert.True(generated > 500 && rejected > 500, $"{generated} generated, {rejected} rejected");
    }

    /// <summary>Half the declarations are well formed (sometimes with one wild value), half anything at all.</summary>
    private static string RandomDeclaration(Random random, string name) =>
        random.NextDouble() < 0.5 ? WellFormedDeclaration(random, name) : WildDeclaration(random, name);

    private static string WellFormedDeclaration(Random random, string name)
    {
        int wild = random.NextDouble() < 0.3 ? random.Next(12) : -1, slot = 0;
        string Pick(string good) => slot++ == wild ? s_ints[random.Next(s_ints.Length)] : good;
        string PickDouble(string good) => slot++ == wild ? s_doubles[random.Next(s_doubles.Length)] : good;
        if (random.NextDouble() < 0.3)
        {
            string[] depths = ["40", "100", "190", "250", "52", "64"];
            string[] variants = ["Basic", "B", "C", "BC"];
            return $"[CifarDenseNet(Depth = {Pick(depths[random.Next(depths.Length)])}, Growth = {Pick(random.Next(1, 16).ToString())}, " +
                   $"Variant = DenseNetVariant.{variants[random.Next(4)]}, Classes = {Pick(random.Next(2, 20).ToString())}, DropRate = {PickDouble("0.2")})]\n" +
                   $"public partial class {name} {{ }}\n";
        }
        var text = new StringBuilder($"[DenseNet(Classes = {Pick(random.Next(1, 12).ToString())}, InputChannels = {Pick(random.Next(1, 4).ToString())}, InputSize = {Pick(random.Next(8, 40).ToString())})]\n");
        if (random.NextDouble() < 0.5)
            text.Append($"[Stem(Channels = {Pick(random.Next(1, 32).ToString())}, Kind = StemKind.{(random.NextDouble() < 0.2 ? "ImageNet" : "Cifar")})]\n");
        int blocks = random.Next(1, 4);
        for (int b = 0; b < blocks; b++)
        {
            if (b > 0) text.Append($"[Transition(Compression = {PickDouble(random.NextDouble() < 0.5 ? "0.5" : "1")})]\n");
            text.Append($"[DenseBlock(Layers = {Pick(random.Next(1, 8).ToString())}, Growth = {Pick(random.Next(1, 16).ToString())}, Bottleneck = {(random.NextDouble() < 0.5 ? "true" : "false")})]\n");
        }
        return text + $"public partial class {name} {{ }}\n";
    }

    private static string WildDeclaration(Random random, string name)
    {
        string Int() => s_ints[random.Next(s_ints.Length)];
        string Double() => s_doubles[random.Next(s_doubles.Length)];
        bool Chance(double p) => random.NextDouble() < p;
        string Args(params (string Name, Func<string> Value)[] options) =>
            string.Join(", ", options.Where(_ => Chance(0.6)).OrderBy(_ => random.Next()).Select(o => $"{o.Name} = {o.Value()}"));

        var attributes = new List<string>();
        double root = random.NextDouble();
        if (root < 0.6) attributes.Add($"DenseNet({Args(("Classes", Int), ("InputChannels", Int), ("InputSize", Int))})");
        else if (root < 0.75)
            attributes.Add($"CifarDenseNet({Args(("Depth", Int), ("Growth", Int), ("Variant", () => $"(DenseNetVariant)({random.Next(-1, 5)})"), ("Compression", Double), ("DropRate", Double), ("Classes", Int), ("InputSize", Int))})");
        else if (root < 0.9)
            attributes.Add($"ImageNetDenseNet({Args(("Depth", Int), ("DropRate", Double), ("Classes", Int), ("InputChannels", Int), ("InputSize", Int))})");
        if (Chance(0.05)) attributes.Add("ImageNetDenseNet(Depth = 121)");

        int parts = random.Next(0, 7);
        for (int p = 0; p < parts; p++)
        {
            double kind = random.NextDouble();
            if (kind < 0.15) attributes.Add($"Stem({Args(("Channels", Int), ("Kind", () => $"(StemKind)({random.Next(-1, 3)})"))})");
            else if (kind < 0.65) attributes.Add($"DenseBlock({Args(("Layers", Int), ("Growth", Int), ("Bottleneck", () => Chance(0.5) ? "true" : "false"), ("BottleneckWidth", Int), ("DropRate", Double))})");
            else attributes.Add($"Transition({Args(("Compression", Double))})");
        }
        if (Chance(0.1)) attributes = attributes.OrderBy(_ => random.Next()).ToList();

        string modifiers = random.NextDouble() switch { < 0.9 => "public partial class", < 0.95 => "public class", _ => "public static partial class" };
        return string.Concat(attributes.Select(a => $"[{a}]\n")) + $"{modifiers} {name} {{ }}\n";
    }
}
