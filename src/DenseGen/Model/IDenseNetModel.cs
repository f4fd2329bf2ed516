namespace DenseGen.Model;

/// <summary>
/// Implemented by every generated model, so code can be generic over models:
/// <c>static void Print&lt;T&gt;() where T : IDenseNetModel =&gt; Console.WriteLine(T.Description.Summary());</c>
/// </summary>
public interface IDenseNetModel
{
    /// <summary>The network's shapes, layer table and tensor layout.</summary>
    static abstract ModelDescription Description { get; }
}
