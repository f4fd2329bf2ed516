using System;
using System.Collections.Generic;

namespace DenseGen.Tests.Reference;

/// <summary>A float64 tensor [N, C, H, W] (or [N, F] with H = W = 1) with a gradient.</summary>
internal sealed class Var
{
    public Var(int n, int c, int h, int w, double[]? data = null)
    {
        N = n; C = c; H = h; W = w;
        Data = data ?? new double[n * c * h * w];
        Grad = new double[Data.Length];
    }

    public int N { get; }
    public int C { get; }
    public int H { get; }
    public int W { get; }
    public double[] Data { get; }
    public double[] Grad { get; }
    public int Index(int n, int c, int y, int x) => ((n * C + c) * H + y) * W + x;
}

/// <summary>
/// Reverse-mode differentiation over plain loops: each operation records how to push its output gradient back to
/// its inputs. Deliberately simple: it is the reference DenseGen's kernels are checked against, not fast code.
/// </summary>
internal sealed class Tape
{
    private readonly List<Action> _backward = [];

    public void Record(Action backward) => _backward.Add(backward);

    /// <summary>
    /// The smallest |input| of any ReLU so far, over the RMS of that ReLU's input: how far this problem sits from a
    /// ReLU whose side float32 rounding could flip (a flip moves the gradients by percent, whatever the kernels).
    /// </summary>
    public double ReluMargin { get; private set; } = double.PositiveInfinity;

    public void NoteReluInput(double[] x)
    {
        double squares = 0, smallest = double.PositiveInfinity;
        foreach (double v in x) { squares += v * v; smallest = Math.Min(smallest, Math.Abs(v)); }
        if (squares > 0) ReluMargin = Math.Min(ReluMargin, smallest / Math.Sqrt(squares / x.Length));
    }

    public void Backward()
    {
        for (int i = _backward.Count - 1; i >= 0; i--) _backward[i]();
    }
}
