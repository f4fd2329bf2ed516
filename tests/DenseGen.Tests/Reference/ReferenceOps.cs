using System;
using System.Collections.Generic;
using System.Linq;

namespace DenseGen.Tests.Reference;

/// <summary>The operations of a DenseNet in float64, forward and backward, written the plain way.</summary>
internal static class ReferenceOps
{
    public const double Epsilon = 1e-5;

    /// <summary>Convolution without bias; weight [co, ci, k, k] with its gradient array.</summary>
    public static Var Conv(Tape tape, Var x, double[] w, double[] dw, int cout, int k, int stride, int pad)
    {
        int os = (x.H + 2 * pad - k) / stride + 1;
        var y = new Var(x.N, cout, os, os);
        int W(int co, int ci, int ky, int kx) => ((co * x.C + ci) * k + ky) * k + kx;
        for (int n = 0; n < x.N; n++)
        for (int co = 0; co < cout; co++)
        for (int oy = 0; oy < os; oy++)
        for (int ox = 0; ox < os; ox++)
        {
            double s = 0;
            for (int ci = 0; ci < x.C; ci++)
            for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
            {
                int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                if (iy < 0 || iy >= x.H || ix < 0 || ix >= x.W) continue;
                s += x.Data[x.Index(n, ci, iy, ix)] * w[W(co, ci, ky, kx)];
            }
            y.Data[y.Index(n, co, oy, ox)] = s;
        }
        tape.Record(() =>
        {
            for (int n = 0; n < x.N; n++)
            for (int co = 0; co < cout; co++)
            for (int oy = 0; oy < os; oy++)
            for (int ox = 0; ox < os; ox++)
            {
                double g = y.Grad[y.Index(n, co, oy, ox)];
                for (int ci = 0; ci < x.C; ci++)
                for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++)
                {
                    int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                    if (iy < 0 || iy >= x.H || ix < 0 || ix >= x.W) continue;
                    dw[W(co, ci, ky, kx)] += g * x.Data[x.Index(n, ci, iy, ix)];
                    x.Grad[x.Index(n, ci, iy, ix)] += g * w[W(co, ci, ky, kx)];
                }
            }
        });
        return y;
    }

    /// <summary>
    /// BatchNorm2d. Training: batch statistics (biased variance), and the running statistics updated as PyTorch does
    /// (momentum 0.1, unbiased variance). Evaluation: the running statistics.
    /// </summary>
    public static Var BatchNorm(Tape tape, Var x, double[] gamma, double[] beta, double[] dGamma, double[] dBeta,
        double[] runningMean, double[] runningVar, bool training)
    {
        var y = new Var(x.N, x.C, x.H, x.W);
        int m = x.N * x.H * x.W;
        var mean = new double[x.C];
        var invStd = new double[x.C];
        for (int c = 0; c < x.C; c++)
        {
            double mu, variance;
            if (training)
            {
                mu = Elements(x, c).Average(i => x.Data[i]);
                variance = Elements(x, c).Average(i => (x.Data[i] - mu) * (x.Data[i] - mu));
                runningMean[c] = 0.9 * runningMean[c] + 0.1 * mu;
                runningVar[c] = 0.9 * runningVar[c] + 0.1 * variance * m / (m - 1);
            }
            else
            {
                mu = runningMean[c];
                variance = runningVar[c];
            }
            mean[c] = mu;
            invStd[c] = 1 / Math.Sqrt(variance + Epsilon);
            foreach (int i in Elements(x, c)) y.Data[i] = gamma[c] * (x.Data[i] - mu) * invStd[c] + beta[c];
        }
        tape.Record(() =>
        {
            for (int c = 0; c < x.C; c++)
            {
                double sumDy = 0, sumDyXhat = 0;
                foreach (int i in Elements(x, c))
                {
                    double xhat = (x.Data[i] - mean[c]) * invStd[c];
                    sumDy += y.Grad[i];
                    sumDyXhat += y.Grad[i] * xhat;
                }
                dBeta[c] += sumDy;
                dGamma[c] += sumDyXhat;
                foreach (int i in Elements(x, c))
                {
                    double xhat = (x.Data[i] - mean[c]) * invStd[c];
                    x.Grad[i] += training
                        ? gamma[c] * invStd[c] / m * (m * y.Grad[i] - sumDy - xhat * sumDyXhat)
                        : gamma[c] * invStd[c] * y.Grad[i];
                }
            }
        });
        return y;
    }

    private static IEnumerable<int> Elements(Var x, int c)
    {
        for (int n = 0; n < x.N; n++)
            for (int i = 0; i < x.H * x.W; i++)
                yield return (n * x.C + c) * x.H * x.W + i;
    }

    public static Var Dropout(Tape tape, Var x, uint seed, float rate)
    {
        var y = new Var(x.N, x.C, x.H, x.W);
        var factor = Enumerable.Range(0, x.Data.Length).Select(i => (double)DenseGen.Kernels.DropoutKernels.Factor(seed, (uint)i, rate)).ToArray();
        for (int i = 0; i < x.Data.Length; i++) y.Data[i] = x.Data[i] * factor[i];
        tape.Record(() => { for (int i = 0; i < x.Data.Length; i++) x.Grad[i] += y.Grad[i] * factor[i]; });
        return y;
    }

    public static Var Relu(Tape tape, Var x)
    {
        var y = new Var(x.N, x.C, x.H, x.W);
        tape.NoteReluInput(x.Data);
        for (int i = 0; i < x.Data.Length; i++) y.Data[i] = Math.Max(0, x.Data[i]);
        tape.Record(() => { for (int i = 0; i < x.Data.Length; i++) if (x.Data[i] > 0) x.Grad[i] += y.Grad[i]; });
        return y;
    }

    public static Var Concat(Tape tape, IReadOnlyList<Var> inputs)
    {
        var parts = inputs.ToArray(); // the caller's list keeps growing; backward needs today's parts
        var first = parts[0];
        var y = new Var(first.N, parts.Sum(p => p.C), first.H, first.W);
        int area = first.H * first.W;
        for (int n = 0; n < y.N; n++)
        {
            int c0 = 0;
            foreach (var p in parts)
            {
                Array.Copy(p.Data, n * p.C * area, y.Data, (n * y.C + c0) * area, p.C * area);
                c0 += p.C;
            }
        }
        tape.Record(() =>
        {
            for (int n = 0; n < y.N; n++)
            {
                int c0 = 0;
                foreach (var p in parts)
                {
                    for (int i = 0; i < p.C * area; i++) p.Grad[n * p.C * area + i] += y.Grad[(n * y.C + c0) * area + i];
                    c0 += p.C;
                }
            }
        });
        return y;
    }

    /// <summary>2x2 average pool, stride 2 (an odd last row or column is dropped, as in PyTorch).</summary>
    public static Var AvgPool2(Tape tape, Var x)
    {
        int os = x.H / 2;
        var y = new Var(x.N, x.C, os, os);
        for (int n = 0; n < x.N; n++)
        for (int c = 0; c < x.C; c++)
        for (int oy = 0; oy < os; oy++)
        for (int ox = 0; ox < os; ox++)
            y.Data[y.Index(n, c, oy, ox)] = 0.25 * (x.Data[x.Index(n, c, 2 * oy, 2 * ox)] + x.Data[x.Index(n, c, 2 * oy, 2 * ox + 1)]
                                                   + x.Data[x.Index(n, c, 2 * oy + 1, 2 * ox)] + x.Data[x.Index(n, c, 2 * oy + 1, 2 * ox + 1)]);
        tape.Record(() =>
        {
            for (int n = 0; n < x.N; n++)
            for (int c = 0; c < x.C; c++)
            for (int oy = 0; oy < os; oy++)
            for (int ox = 0; ox < os; ox++)
            for (int d = 0; d < 4; d++)
                x.Grad[x.Index(n, c, 2 * oy + d / 2, 2 * ox + d % 2)] += 0.25 * y.Grad[y.Index(n, c, oy, ox)];
        });
        return y;
    }

    /// <summary>3x3 max-pool, stride 2, padding 1 (padding never wins); the gradient goes to the first maximum.</summary>
    public static Var MaxPool3(Tape tape, Var x)
    {
        int os = (x.H + 2 - 3) / 2 + 1;
        var y = new Var(x.N, x.C, os, os);
        var argmax = new int[y.Data.Length];
        for (int n = 0; n < x.N; n++)
        for (int c = 0; c < x.C; c++)
        for (int oy = 0; oy < os; oy++)
        for (int ox = 0; ox < os; ox++)
        {
            double best = double.NegativeInfinity;
            int at = -1;
            for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
            {
                int iy = 2 * oy - 1 + ky, ix = 2 * ox - 1 + kx;
                if (iy < 0 || iy >= x.H || ix < 0 || ix >= x.W) continue;
                if (x.Data[x.Index(n, c, iy, ix)] > best) { best = x.Data[x.Index(n, c, iy, ix)]; at = x.Index(n, c, iy, ix); }
            }
            y.Data[y.Index(n, c, oy, ox)] = best;
            argmax[y.Index(n, c, oy, ox)] = at;
        }
        tape.Record(() => { for (int i = 0; i < y.Data.Length; i++) x.Grad[argmax[i]] += y.Grad[i]; });
        return y;
    }

    public static Var GlobalAvgPool(Tape tape, Var x)
    {
        var y = new Var(x.N, x.C, 1, 1);
        int area = x.H * x.W;
        for (int n = 0; n < x.N; n++)
            for (int c = 0; c < x.C; c++)
                y.Data[n * x.C + c] = Enumerable.Range(0, area).Sum(i => x.Data[(n * x.C + c) * area + i]) / area;
        tape.Record(() =>
        {
            for (int n = 0; n < x.N; n++)
                for (int c = 0; c < x.C; c++)
                    for (int i = 0; i < area; i++) x.Grad[(n * x.C + c) * area + i] += y.Grad[n * x.C + c] / area;
        });
        return y;
    }

    public static Var Linear(Tape tape, Var x, double[] w, double[] b, double[] dw, double[] db, int classes)
    {
        int f = x.C;
        var y = new Var(x.N, classes, 1, 1);
        for (int n = 0; n < x.N; n++)
            for (int k = 0; k < classes; k++)
            {
                double s = b[k];
                for (int i = 0; i < f; i++) s += x.Data[n * f + i] * w[k * f + i];
                y.Data[n * classes + k] = s;
            }
        tape.Record(() =>
        {
            for (int n = 0; n < x.N; n++)
                for (int k = 0; k < classes; k++)
                {
                    double g = y.Grad[n * classes + k];
                    db[k] += g;
                    for (int i = 0; i < f; i++)
                    {
                        dw[k * f + i] += g * x.Data[n * f + i];
                        x.Grad[n * f + i] += g * w[k * f + i];
                    }
                }
        });
        return y;
    }

    /// <summary>Mean softmax cross-entropy over the batch; seeds the logits' gradient.</summary>
    public static double CrossEntropy(Var logits, int[] labels)
    {
        int k = logits.C;
        double total = 0;
        for (int n = 0; n < logits.N; n++)
        {
            double max = Enumerable.Range(0, k).Max(j => logits.Data[n * k + j]);
            double logSum = Math.Log(Enumerable.Range(0, k).Sum(j => Math.Exp(logits.Data[n * k + j] - max))) + max;
            total += logSum - logits.Data[n * k + labels[n]];
            for (int j = 0; j < k; j++)
                logits.Grad[n * k + j] = (Math.Exp(logits.Data[n * k + j] - logSum) - (j == labels[n] ? 1 : 0)) / logits.N;
        }
        return total / logits.N;
    }
}
