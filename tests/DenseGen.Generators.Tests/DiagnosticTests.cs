using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using DenseGen.Generators.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using DenseGen.TestSupport;
using Xunit;

namespace DenseGen.Generators.Tests;

/// <summary>
/// Each bad declaration, written as a user would, with the expected diagnostics marked in place:
/// <c>{|DG0010:Layers = 0|}</c> means DG0010 must point exactly at <c>Layers = 0</c>. Nothing else may be reported.
/// </summary>
public class DiagnosticTests
{
    private const string Block = "[DenseBlock(Layers = 2, Growth = 4)]";

    public static TheoryData<string, string> Cases => new()
    {
        { "DG0001", $"[DenseNet] {Block} public class {{|DG0001:Model|}} {{ }}" },
        { "DG0002", $"public class Outer {{ [DenseNet] {Block} public partial class {{|DG0002:Model|}} {{ }} }}" },
        { "DG0003", $"[DenseNet] {Block} public partial class {{|DG0003:Model|}}<T> {{ }}" },
        { "DG0004", $"[DenseNet] {Block} public static partial class {{|DG0004:Model|}} {{ }}" },
        { "DG0010 layers", "[DenseNet] [DenseBlock({|DG0010:Layers = 0|}, Growth = 12)] public partial class Model { }" },
        { "DG0010 missing growth", "[DenseNet] [{|DG0010:DenseBlock(Layers = 3)|}] public partial class Model { }" },
        { "DG0010 classes", $"[DenseNet({{|DG0010:Classes = -1|}})] {Block} public partial class Model {{ }}" },
        { "DG0010 stem", $"[DenseNet] [Stem({{|DG0010:Channels = 0|}})] {Block} public partial class Model {{ }}" },
        { "DG0010 bottleneck width", "[DenseNet] [DenseBlock(Layers = 2, Growth = 4, Bottleneck = true, {|DG0010:BottleneckWidth = 0|})] public partial class Model { }" },
        { "DG0011", $"[DenseNet({{|DG0011:InputChannels = 2000000|}})] {Block} public partial class Model {{ }}" },
        { "DG0012", "[DenseNet] [DenseBlock(Layers = 2, Growth = 4, {|DG0012:DropRate = 1.0|})] public partial class Model { }" },
        { "DG0012 NaN", "[DenseNet] [DenseBlock(Layers = 2, Growth = 4, {|DG0012:DropRate = double.NaN|})] public partial class Model { }" },
        { "DG0013", $"[DenseNet] {Block} [Transition({{|DG0013:Compression = 0|}})] {Block} public partial class Model {{ }}" },
        { "DG0013 above one", $"[DenseNet] {Block} [Transition({{|DG0013:Compression = 1.5|}})] {Block} public partial class Model {{ }}" },
        { "DG0013 preset", "[CifarDenseNet(Depth = 100, Growth = 12, Variant = DenseNetVariant.BC, {|DG0013:Compression = double.PositiveInfinity|})] public partial class Model { }" },
        { "DG0014", $"[DenseNet({{|DG0014:InputSize = 3|}})] {Block} [Transition] {Block} [Transition] {Block} public partial class Model {{ }}" },
        { "DG0014 preset", "[CifarDenseNet(Depth = 40, Growth = 12, {|DG0014:InputSize = 2|})] public partial class Model { }" },
        { "DG0014 default size", $"[{{|DG0014:DenseNet|}}] [Stem(Kind = StemKind.ImageNet)] {Block} [Transition] {Block} [Transition] {Block} [Transition] {Block} [Transition] {Block} public partial class Model {{ }}" },
        { "DG0014 ImageNet", "[ImageNetDenseNet(Depth = 121, {|DG0014:InputSize = 16|})] public partial class Model { }" },
        { "DG0015", $"[DenseNet] [Stem(Channels = 1)] [DenseBlock(Layers = 1, Growth = 1)] [Transition({{|DG0015:Compression = 0.2|}})] {Block} public partial class Model {{ }}" },
        { "DG0016", "[DenseNet] [Stem] public partial class {|DG0016:Model|} { }" },
        { "DG0017", $"[DenseNet] {Block} [{{|DG0017:Transition|}}] public partial class Model {{ }}" },
        { "DG0017 twice", $"[DenseNet] {Block} [{{|DG0017:Transition|}}] [Transition] {Block} public partial class Model {{ }}" },
        { "DG0018", $"[DenseNet] [{{|DG0018:Transition|}}] {Block} public partial class Model {{ }}" },
        { "DG0019", $"[DenseNet] [Stem] [{{|DG0019:Stem(Channels = 8)|}}] {Block} public partial class Model {{ }}" },
        { "DG0020", $"[DenseNet] {Block} [{{|DG0020:Stem|}}] public partial class Model {{ }}" },
        { "DG0021", "[CifarDenseNet({|DG0021:Depth = 101|}, Growth = 12, Variant = DenseNetVariant.BC)] public partial class Model { }" },
        { "DG0021 too shallow", "[CifarDenseNet({|DG0021:Depth = 4|}, Growth = 12)] public partial class Model { }" },
        { "DG0022", "[ImageNetDenseNet({|DG0022:Depth = 120|})] public partial class Model { }" },
        { "DG0022 missing depth", "[{|DG0022:ImageNetDenseNet|}] public partial class Model { }" },
        { "DG0023 preset and block", "[CifarDenseNet(Depth = 40, Growth = 12)] [{|DG0023:DenseBlock(Layers = 2, Growth = 4)|}] public partial class Model { }" },
        { "DG0023 two roots", $"[DenseNet] [{{|DG0023:ImageNetDenseNet(Depth = 121)|}}] {Block} public partial class Model {{ }}" },
        { "DG0024", "[{|DG0024:DenseBlock(Layers = 2, Growth = 4)|}] [Transition] public partial class Model { }" },
        { "DG0025", $"[DenseNet] [Stem({{|DG0025:Kind = (StemKind)7|}})] {Block} public partial class Model {{ }}" },
        { "DG0025 variant", "[CifarDenseNet(Depth = 40, Growth = 12, {|DG0025:Variant = (DenseNetVariant)9|})] public partial class Model { }" },
        { "DG0026", "[DenseNet] [{|DG0026:DenseBlock(Layers = 100000, Growth = 100000)|}] public partial class Model { }" },
        { "DG0026 layers", "[DenseNet] [DenseBlock(Layers = 15000, Growth = 1)] [Transition] [{|DG0026:DenseBlock(Layers = 15000, Growth = 1)|}] public partial class Model { }" },
        { "DG0027", $"[DenseNet] public partial class Model {{ }} [{{|DG0027:DenseBlock(Layers = 2, Growth = 4)|}}] public partial class Model {{ }}" },
        { "DG0028", "[CifarDenseNet(Depth = 40, Growth = 12, {|DG0028:Compression = 0.5|})] public partial class Model { }" },
        { "DG0029", "[DenseNet] [DenseBlock(Layers = 2, Growth = 4, {|DG0029:BottleneckWidth = 2|})] public partial class Model { }" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Reports_the_problem_at_the_argument_at_fault(string name, string markup)
    {
        var (source, expected) = Markup.Parse("using DenseGen;\n" + markup);
        var run = Harness.Run(source);
        Assert.Null(run.Result.Exception);
        var actual = run.Diagnostics.Select(d => (d.Id, d.Location.SourceSpan)).OrderBy(d => d.SourceSpan.Start).ToList();
        Assert.True(expected.SequenceEqual(actual),
            $"{name}: expected [{string.Join(", ", expected)}] but got:\n{DiagnosticText.Format(run.Diagnostics)}");

        bool anyError = run.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);
        Assert.Equal(!anyError && !name.StartsWith("DG0024", System.StringComparison.Ordinal), run.Sources.Count > 0);
        if (!anyError) Assert.Empty(run.CompilerProblems);
    }

    [Fact]
    public void Every_diagnostic_is_exercised_by_a_case()
    {
        var tested = Cases.Select(row => ((string)row[0]).Split(' ')[0]).ToHashSet();
        var untested = Diagnostics.All.Select(d => d.Id).Where(id => !tested.Contains(id)).ToList();
        Assert.True(untested.Count == 0, "No case for " + string.Join(", ", untested));
    }

    [Fact]
    public void Every_diagnostic_is_documented_in_the_README()
    {
        string readme = File.ReadAllText(Path.Combine(Repository.Root, "README.md"));
        var missing = Diagnostics.All.Where(d => !readme.Contains($"| {d.Id} |", System.StringComparison.Ordinal)).Select(d => d.Id).ToList();
        Assert.True(missing.Count == 0, "Not in the README's diagnostics table: " + string.Join(", ", missing));
    }

    [Fact]
    public void Every_message_says_what_to_do()
    {
        // A message that only says what is wrong leaves the user guessing: each one names a fix.
        string[] advice = ["write", "use", "add", "remove", "make", "keep", "put", "declare", "move", "leave"];
        foreach (var descriptor in Diagnostics.All)
        {
            string message = descriptor.MessageFormat.ToString(System.Globalization.CultureInfo.InvariantCulture).ToLowerInvariant();
            Assert.True(advice.Any(a => Regex.IsMatch(message, $@"\b{a}\b")), $"{descriptor.Id} gives no advice: {message}");
        }
    }

    [Fact]
    public void Unresolved_arguments_are_left_to_the_compiler()
    {
        var run = Harness.Run("using DenseGen;\n[DenseNet(Classes = Missing.Value)] [DenseBlock(Layers = 2, Growth = 4)] public partial class Model { }");
        Assert.Empty(run.Diagnostics);
        Assert.Empty(run.Sources);
        Assert.Contains(run.Output.GetDiagnostics(), d => d.Id == "CS0103");
    }
}

/// <summary>Reads <c>{|ID:text|}</c> markers out of a source: the plain text and the expected (id, span) pairs.</summary>
internal static class Markup
{
    public static (string Source, List<(string Id, TextSpan Span)> Expected) Parse(string markup)
    {
        var expected = new List<(string, TextSpan)>();
        var text = new System.Text.StringBuilder();
        int i = 0;
        while (i < markup.Length)
        {
            if (string.CompareOrdinal(markup, i, "{|", 0, 2) == 0)
            {
                int colon = markup.IndexOf(':', i);
                int end = markup.IndexOf("|}", colon, System.StringComparison.Ordinal);
                string id = markup[(i + 2)..colon];
                string inner = markup[(colon + 1)..end];
                expected.Add((id, new TextSpan(text.Length, inner.Length)));
                text.Append(inner);
                i = end + 2;
                continue;
            }
            text.Append(markup[i++]);
        }
        return (text.ToString(), expected);
    }
}
