using System;
using System.IO;

namespace DenseGen.Data;

/// <summary>A data file is not what its format says: the message names the file, the byte offset and what is wrong.</summary>
public sealed class DataFormatException : IOException
{
    /// <summary>Creates the exception.</summary>
    public DataFormatException(string path, long offset, string problem)
        : base($"{path}: at byte {offset}: {problem}")
    {
        Path = path;
        Offset = offset;
        Problem = problem;
    }

    /// <summary>The file at fault.</summary>
    public string Path { get; }

    /// <summary>Byte offset (in the decompressed stream for .gz files) where the problem was found.</summary>
    public long Offset { get; }

    /// <summary>What is wrong.</summary>
    public string Problem { get; }
}
