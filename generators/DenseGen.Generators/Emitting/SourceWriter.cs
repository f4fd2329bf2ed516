using System.Text;

namespace DenseGen.Generators.Emitting;

/// <summary>A tiny indented text writer (four spaces a level, '\n' line ends on every platform).</summary>
internal sealed class SourceWriter
{
    private readonly StringBuilder _text = new();
    private int _depth;

    public void Line(string line = "")
    {
        if (line.Length > 0) _text.Append(' ', 4 * _depth).Append(line);
        _text.Append('\n');
    }

    public void Open(string line)
    {
        Line(line);
        Line("{");
        _depth++;
    }

    public void Close(string suffix = "")
    {
        _depth--;
        Line("}" + suffix);
    }

    public void Indent() => _depth++;

    public void Unindent() => _depth--;

    public override string ToString() => _text.ToString();
}
