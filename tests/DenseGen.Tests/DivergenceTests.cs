using System;
using System.Linq;
using DenseGen.Data;
using DenseGen.Model;
using DenseGen.Training;
using Xunit;

namespace DenseGen.Tests;

/// <summary>A NaN during training stops the run with the step and the layer where values first stopped being finite.</summary>
public class DivergenceTests
{
    private static ImageSet Digits(int count, int seed, bool poison = false)
    {
        var random = new Random(seed);
        var pixels = new byte[count * 2 * 7 * 7];
        random.NextBytes(pixels);
        var labels = Enumerable.Range(0, count).Select(_ => (byte)random.Next(5)).ToArray();
        return new ImageSet(pixels, labels, 2, 7, 5, poison ? "poisoned" : "random");
    }

    [Fact]
    public void A_nan_weight_is_traced_to_its_layer()
    {
        using var session = SmallPlain.CreateSession(TestDevice.Instance, 4);
        var trainer = new Trainer(session, Digits(8, 1), Digits(4, 2));
        // Train a step, then poison one weight of block 2's second layer and train again.
        int steps = 0;
        var error = Assert.Throws<TrainingDivergedException>(() => trainer.Run(new TrainingOptions(2), onStep: (_, _, _) =>
        {
            if (++steps != 1) return;
            var parameters = session.GetParameters();
            parameters[SmallPlain.Layout["features.denseblock2.denselayer2.conv1.weight"].Offset + 3] = float.NaN;
            session.SetParameters(parameters);
        }));
        Assert.Equal("features.denseblock2.denselayer2", error.Tensor);
        Assert.Equal(2, error.Step);
        Assert.Contains("step 2", error.Message);
        Assert.Contains("features.denseblock2.denselayer2", error.Message);
    }

    [Fact]
    public void Training_with_augmentation_is_repeatable_for_a_seed_and_differs_from_plain()
    {
        double Run(bool augment, int seed)
        {
            using var session = SmallPlain.CreateSession(TestDevice.Instance, 4);
            var trainer = new Trainer(session, Digits(8, 1), Digits(4, 2));
            return trainer.Run(new TrainingOptions(1, Seed: seed, Augment: augment))[^1].TrainLoss;
        }
        double augmented = Run(true, 3);
        Assert.Equal(augmented, Run(true, 3));
        Assert.NotEqual(augmented, Run(false, 3));
        Assert.True(double.IsFinite(augmented));
    }

    [Fact]
    public void The_first_finite_layers_are_not_blamed_for_a_later_nan()
    {
        using var session = SmallPlain.CreateSession(TestDevice.Instance, 4);
        var images = Enumerable.Range(0, 4 * 2 * 7 * 7).Select(i => (float)Math.Sin(i)).ToArray();
        Assert.Null(session.LocateNonFinite(images));
        var parameters = session.GetParameters();
        parameters[SmallPlain.Layout["features.transition1.conv.weight"].Offset] = float.PositiveInfinity;
        session.SetParameters(parameters);
        Assert.Equal("features.transition1", session.LocateNonFinite(images));
        var running = session.GetRunningStatistics();
        session.LocateNonFinite(images);
        Assert.Equal(running, session.GetRunningStatistics()); // the diagnosis changes nothing
        images[5] = float.NaN;
        Assert.Equal("features.conv0", session.LocateNonFinite(images));
    }
}
