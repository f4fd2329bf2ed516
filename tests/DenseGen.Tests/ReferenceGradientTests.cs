using System;
using System.Linq;
using DenseGen.Model;
using DenseGen.Tests.Reference;
using Xunit;
using static DenseGen.Tests.Reference.ReferenceOps;

namespace DenseGen.Tests;

/// <summary>
/// The float64 reference's own backward, checked by central finite differences, so the kernels are compared with
/// something proven: each operation on small odd shapes, and a whole network by a directional derivative.
/// </summary>
public class ReferenceGradientTests
{
    private const double Step = 1e-6, Tolerance = 1e-6;

    /// <summary>
    /// For loss = sum(r * op(x, w)): the tape's gradients of x and w against central differences of every element.
    /// </summary>
    private static void Check(string what, Var x, double[] w, double[] dw, Func<Tape, double[], Var> op)
    {
        var random = new Random(what.Length);
        double[]? r = null;
        double Loss()
        {
            var y = op(new Tape(), new double[dw.Length]);
            r ??= Enumerable.Range(0, y.Data.Length).Select(_ => random.NextDouble() - 0.5).ToArray();
            return y.Data.Select((v, i) => v * r[i]).Sum();
        }
        Loss();
        Array.Clear(x.Grad);
        Array.Clear(dw);
        var tape = new Tape();
        var output = op(tape, dw);
        Array.Copy(r!, output.Grad, r!.Length);
        tape.Backward();
        var analytic = x.Grad.Concat(dw).ToArray();
        var numeric = new double[analytic.Length];
        for (int i = 0; i < numeric.Length; i++)
        {
            double[] target = i < x.Data.Length ? x.Data : w;
            int at = i < x.Data.Length ? i : i - x.Data.Length;
            double saved = target[at];
            target[at] = saved + Step; double plus = Loss();
            target[at] = saved - Step; double minus = Loss();
            target[at] = saved;
            numeric[i] = (plus - minus) / (2 * Step);
        }
        double diff = Math.Sqrt(analytic.Zip(numeric, (a, b) => (a - b) * (a - b)).Sum());
        double norm = Math.Sqrt(numeric.Sum(v => v * v));
        Assert.True(diff <= Tolerance * Math.Max(norm, 1), $"{what}: analytic vs numeric gradient differ by {diff:E2} (norm {norm:E2})");
    }

    private static Var Random(int seed, int n, int c, int h, int w, double low = -1, double high = 1)
    {
        var random = new Random(seed);
        return new Var(n, c, h, w, Enumerable.Range(0, n * c * h * w).Select(_ => low + (high - low) * random.NextDouble()).ToArray());
    }

    private static double[] Values(int seed, int count, double low = -1, double high = 1)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => low + (high - low) * random.NextDouble()).ToArray();
    }

    [Theory]
    [InlineData(1, 3, 7, 3, 1, 1)]
    [InlineData(3, 2, 5, 1, 1, 0)]
    [InlineData(2, 3, 9, 7, 2, 3)]
    public void Convolution(int n, int c, int size, int k, int stride, int pad)
    {
        var x = Random(1, n, c, size, size);
        var w = Values(2, 4 * c * k * k);
        Check($"conv {k}x{k}/{stride}", x, w, new double[w.Length], (t, dw) => Conv(t, x, w, dw, 4, k, stride, pad));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Batch_norm(bool training)
    {
        var x = Random(3, 3, 4, 5, 5);
        var gamma = Values(4, 4, 0.5, 1.5);
        var beta = Values(5, 4);
        Check($"batch norm (training {training})", x, [], [], (t, _) =>
            BatchNorm(t, x, gamma, beta, new double[4], new double[4], new double[4], Enumerable.Repeat(1.0, 4).ToArray(), training));
    }

    [Fact]
    public void Batch_norm_parameter_gradients()
    {
        var x = Random(6, 2, 3, 4, 4);
        var gamma = Values(7, 3, 0.5, 1.5);
        var beta = Values(8, 3);
        var r = Values(9, x.Data.Length);
        double Loss()
        {
            var y = BatchNorm(new Tape(), x, gamma, beta, new double[3], new double[3], new double[3], new double[3], true);
            return y.Data.Select((v, i) => v * r[i]).Sum();
        }
        var tape = new Tape();
        var dGamma = new double[3];
        var dBeta = new double[3];
        var output = BatchNorm(tape, x, gamma, beta, dGamma, dBeta, new double[3], new double[3], true);
        Array.Copy(r, output.Grad, r.Length);
        tape.Backward();
        foreach (var (values, grads) in new[] { (gamma, dGamma), (beta, dBeta) })
            for (int c = 0; c < 3; c++)
            {
                double saved = values[c];
                values[c] = saved + Step; double plus = Loss();
                values[c] = saved - Step; double minus = Loss();
                values[c] = saved;
                Assert.Equal((plus - minus) / (2 * Step), grads[c], 6);
            }
    }

    [Fact]
    public void Relu_concat_and_pools()
    {
        var x = Random(10, 2, 3, 7, 7);
        Check("relu", x, [], [], (t, _) => Relu(t, x));
        Check("average pool 2x2 on 7x7", x, [], [], (t, _) => AvgPool2(t, x));
        Check("max pool 3x3/2 on 7x7", x, [], [], (t, _) => MaxPool3(t, x));
        Check("global average pool", x, [], [], (t, _) => GlobalAvgPool(t, x));
        var other = Random(11, 2, 2, 7, 7);
        Check("concat", x, [], [], (t, _) => Concat(t, [x, other, x]));
    }

    [Fact]
    public void Linear_and_cross_entropy()
    {
        var x = Random(12, 3, 5, 1, 1);
        var wb = Values(13, 4 * 5 + 4);
        var w = wb[..20];
        var b = wb[20..];
        Check("linear weight", x, w, new double[20], (t, dw) => Linear(t, x, w, b, dw, new double[4], 4));
        Check("linear bias", x, b, new double[4], (t, db) => Linear(t, x, w, b, new double[20], db, 4));
        int[] labels = [1, 3, 0];
        var logits = Random(14, 3, 4, 1, 1);
        double Loss() { var copy = new Var(3, 4, 1, 1, logits.Data); return CrossEntropy(copy, labels); }
        var seeded = new Var(3, 4, 1, 1, logits.Data);
        CrossEntropy(seeded, labels);
        for (int i = 0; i < logits.Data.Length; i++)
        {
            double saved = logits.Data[i];
            logits.Data[i] = saved + Step; double plus = Loss();
            logits.Data[i] = saved - Step; double minus = Loss();
            logits.Data[i] = saved;
            Assert.Equal((plus - minus) / (2 * Step), seeded.Grad[i], 6);
        }
    }

    [Fact]
    public void Whole_network_directional_derivative()
    {
        // d/dh loss(p + h v) at h = 0 equals grad . v, for a random direction v over every parameter.
        var model = SmallBC.Description;
        var random = new Random(15);
        var parameters = new double[model.Layout.ParameterCount];
        foreach (var t in model.Layout.Tensors.Where(t => t.Storage == TensorStorage.Parameters))
            for (long i = t.Offset; i < t.Offset + t.Length; i++)
                parameters[i] = t.Role == TensorRole.BatchNormWeight ? 0.5 + random.NextDouble() : 0.3 * (random.NextDouble() - 0.5);
        var running = new double[model.Layout.RunningStatisticsCount];
        var images = Enumerable.Range(0, 3 * 3 * 11 * 11).Select(_ => 2 * random.NextDouble() - 1).ToArray();
        int[] labels = [2, 6, 0];
        var direction = Enumerable.Range(0, parameters.Length).Select(_ => random.NextDouble() - 0.5).ToArray();
        // A unit direction and a small step: the loss is only piecewise smooth (ReLU), and a long step crosses kinks.
        double length = Math.Sqrt(direction.Sum(v => v * v));
        for (int i = 0; i < direction.Length; i++) direction[i] /= length;

        double LossAt(double h)
        {
            var shifted = parameters.Select((p, i) => p + h * direction[i]).ToArray();
            return new ReferenceDenseNet(model, shifted, (double[])running.Clone()).Run(images, labels, training: true);
        }
        var net = new ReferenceDenseNet(model, (double[])parameters.Clone(), (double[])running.Clone());
        net.Run(images, labels, training: true);
        double analytic = net.Gradients.Zip(direction, (g, v) => g * v).Sum();
        const double h = 1e-6;
        double numeric = (LossAt(h) - LossAt(-h)) / (2 * h);
        Assert.True(Math.Abs(analytic - numeric) <= 1e-6 * Math.Max(1, Math.Abs(numeric)), $"grad . v = {analytic}, finite difference {numeric}");
    }
}
