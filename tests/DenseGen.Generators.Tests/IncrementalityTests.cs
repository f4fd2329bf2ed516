using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;
using static DenseGen.Generators.DenseNetGenerator;

namespace DenseGen.Generators.Tests;

/// <summary>
/// The generator must cost nothing on edits that do not change a network. Roslyn re-runs the attribute transform
/// after any edit of the compilation; value equality of the spec makes that step Unchanged, and everything after
/// it (plan, emitted source, diagnostics) Cached.
/// </summary>
public class IncrementalityTests
{
    private const string Model = """
        using DenseGen;
        namespace App;
        [CifarDenseNet(Depth = 100, Growth = 12, Variant = DenseNetVariant.BC)]
        public partial class Net { }
        """;

    [Fact]
    public void An_edit_in_another_file_leaves_every_step_cached()
    {
        var compilation = Harness.Compilation(("Models.cs", Model), ("Other.cs", "class Other { }"));
        var driver = Harness.Driver(trackSteps: true).RunGenerators(compilation);

        var edited = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.Last(),
            CSharpSyntaxTree.ParseText("class Other { int x; }", Harness.ParseOptions, "Other.cs"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        AssertReasons(result, TrackingNames.Parse, IncrementalStepRunReason.Unchanged);
        AssertReasons(result, TrackingNames.Plan, IncrementalStepRunReason.Cached);
        AssertAllOutputs(result, IncrementalStepRunReason.Cached);
    }

    [Fact]
    public void An_edit_in_the_models_file_that_keeps_the_network_reuses_the_plan_and_the_output()
    {
        var compilation = Harness.Compilation(("Models.cs", Model));
        var driver = Harness.Driver(trackSteps: true).RunGenerators(compilation);

        var edited = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.Single(),
            CSharpSyntaxTree.ParseText(Model + "\nclass Helper { void M() { } }\n", Harness.ParseOptions, "Models.cs"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        AssertReasons(result, TrackingNames.Parse, IncrementalStepRunReason.Unchanged);
        AssertReasons(result, TrackingNames.Plan, IncrementalStepRunReason.Cached);
        AssertAllOutputs(result, IncrementalStepRunReason.Cached);
    }

    [Fact]
    public void Changing_the_network_regenerates_it()
    {
        var compilation = Harness.Compilation(("Models.cs", Model));
        var driver = Harness.Driver(trackSteps: true).RunGenerators(compilation);

        var edited = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.Single(),
            CSharpSyntaxTree.ParseText(Model.Replace("Growth = 12", "Growth = 24"), Harness.ParseOptions, "Models.cs"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        AssertReasons(result, TrackingNames.Parse, IncrementalStepRunReason.Modified);
        AssertReasons(result, TrackingNames.Plan, IncrementalStepRunReason.Modified);
        Assert.Contains("k=24", result.GeneratedSources.Single().SourceText.ToString());
    }

    [Fact]
    public void No_pipeline_model_holds_a_symbol_syntax_node_location_or_compilation()
    {
        var compilation = Harness.Compilation(("Models.cs", Model + """

            [DenseNet(Classes = 0)]
            [DenseBlock(Layers = 2, Growth = 4)]
            public partial class Broken { }
            """));
        var result = Harness.Driver(trackSteps: true).RunGenerators(compilation).GetRunResult().Results.Single();
        var values = result.TrackedSteps
            .Where(step => step.Key.StartsWith("DenseGen.", StringComparison.Ordinal))
            .SelectMany(step => step.Value).SelectMany(run => run.Outputs).Select(output => output.Value)
            .ToList();
        Assert.NotEmpty(values);
        foreach (var value in values) AssertPure(value, new HashSet<object>(ReferenceEqualityComparer.Instance), "model");
    }

    private static readonly Type[] s_forbidden =
        [typeof(ISymbol), typeof(SyntaxNode), typeof(SyntaxTree), typeof(Location), typeof(Compilation), typeof(SemanticModel)];

    /// <summary>Walks the object graph of a pipeline value and fails on any Roslyn object that would pin a compilation.</summary>
    private static void AssertPure(object? value, HashSet<object> seen, string path)
    {
        if (value is null || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum) return;
        var type = value.GetType();
        Assert.False(s_forbidden.Any(f => f.IsAssignableFrom(type)), $"{path} is a {type.Name}");
        if (!type.IsValueType && !seen.Add(value)) return;
        if (value is IEnumerable items)
        {
            int i = 0;
            foreach (var item in items) AssertPure(item, seen, $"{path}[{i++}]");
        }
        for (var t = type; t is not null && t != typeof(object); t = t.BaseType)
            foreach (var field in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                AssertPure(field.GetValue(value), seen, $"{path}.{field.Name}");
    }

    private static void AssertReasons(GeneratorRunResult result, string step, IncrementalStepRunReason expected)
    {
        var reasons = result.TrackedSteps[step].SelectMany(run => run.Outputs).Select(output => output.Reason).ToList();
        Assert.NotEmpty(reasons);
        Assert.True(reasons.All(reason => reason == expected), $"{step}: expected {expected}, got {string.Join(", ", reasons)}");
    }

    private static void AssertAllOutputs(GeneratorRunResult result, IncrementalStepRunReason expected)
    {
        var reasons = result.TrackedOutputSteps.SelectMany(step => step.Value).SelectMany(run => run.Outputs).Select(o => o.Reason).ToList();
        Assert.NotEmpty(reasons);
        Assert.All(reasons, reason => Assert.Equal(expected, reason));
    }
}
