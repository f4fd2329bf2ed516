namespace DenseGen.Generators.Parsing;

/// <summary>
/// Metadata names of the attributes in DenseGen.dll, and their defaults. The generator cannot reference the runtime
/// assembly, so the defaults are repeated here; a test compares them with the attributes' own.
/// </summary>
internal static class KnownAttributes
{
    public const string DenseNet = "DenseGen.DenseNetAttribute";
    public const string CifarDenseNet = "DenseGen.CifarDenseNetAttribute";
    public const string ImageNetDenseNet = "DenseGen.ImageNetDenseNetAttribute";
    public const string Stem = "DenseGen.StemAttribute";
    public const string DenseBlock = "DenseGen.DenseBlockAttribute";
    public const string Transition = "DenseGen.TransitionAttribute";

    /// <summary>Attributes that declare a whole network; each starts generation for its class.</summary>
    public static readonly string[] Roots = [DenseNet, CifarDenseNet, ImageNetDenseNet];

    /// <summary>Attributes that declare one part of a network under [DenseNet].</summary>
    public static readonly string[] Parts = [Stem, DenseBlock, Transition];

    public static bool IsRoot(string name) => System.Array.IndexOf(Roots, name) >= 0;

    public static bool IsPart(string name) => System.Array.IndexOf(Parts, name) >= 0;

    /// <summary>"DenseGen.DenseBlockAttribute" to "DenseBlock", as a user writes it.</summary>
    public static string ShortName(string metadataName) =>
        metadataName.Substring("DenseGen.".Length, metadataName.Length - "DenseGen.".Length - "Attribute".Length);

    public static class Defaults
    {
        public const int Classes = 10;
        public const int InputChannels = 3;
        public const int InputSize = 32;
        public const int StemChannels = 16;
        public const int BottleneckWidth = 4;
        public const double Compression = 1.0;
        public const double PresetCompression = 0.5;
        public const int ImageNetClasses = 1000;
        public const int ImageNetInputSize = 224;
    }
}
