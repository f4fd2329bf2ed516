using System;
using System.Linq;
using System.Threading;
using DenseGen.Generators.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace DenseGen.Generators.Parsing;

/// <summary>One DenseGen attribute as written: its data, its syntax, and where each named argument stands.</summary>
internal sealed class AttributeArguments
{
    private readonly AttributeData _data;

    public AttributeArguments(AttributeData data, AttributeSyntax syntax, string name)
    {
        _data = data;
        Syntax = syntax;
        Name = name;
    }

    /// <summary>The attribute's metadata name (DenseGen.DenseBlockAttribute).</summary>
    public string Name { get; }

    /// <summary>As the user writes it: DenseBlock.</summary>
    public string ShortName => KnownAttributes.ShortName(Name);

    public AttributeSyntax Syntax { get; }

    public LocationInfo? Location => LocationInfo.From(Syntax);

    /// <summary>True when the compiler could not bind an argument; it reports that error itself.</summary>
    public bool HasErrors =>
        _data.AttributeConstructor is null ||
        _data.ConstructorArguments.Any(a => a.Kind == TypedConstantKind.Error) ||
        _data.NamedArguments.Any(a => a.Value.Kind == TypedConstantKind.Error);

    public bool IsSet(string property) => _data.NamedArguments.Any(a => a.Key == property);

    /// <summary>Where the named argument stands, or the attribute when it was left at its default.</summary>
    public LocationInfo? LocationOf(string property)
    {
        var argument = Syntax.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == property);
        return argument is null ? Location : LocationInfo.From(argument);
    }

    public int Int(string property, int fallback) => Get(property) is { } value ? Convert.ToInt32(value) : fallback;

    public double Double(string property, double fallback) => Get(property) is { } value ? Convert.ToDouble(value) : fallback;

    public bool Bool(string property, bool fallback) => Get(property) is bool value ? value : fallback;

    private object? Get(string property)
    {
        foreach (var pair in _data.NamedArguments)
        {
            if (pair.Key == property) return pair.Value.Value;
        }
        return null;
    }

    public static AttributeArguments? From(AttributeData data, CancellationToken cancellationToken)
    {
        string? name = data.AttributeClass?.ToDisplayString();
        if (name is null || !(KnownAttributes.IsRoot(name) || KnownAttributes.IsPart(name))) return null;
        if (data.ApplicationSyntaxReference?.GetSyntax(cancellationToken) is not AttributeSyntax syntax) return null;
        return new AttributeArguments(data, syntax, name);
    }
}
