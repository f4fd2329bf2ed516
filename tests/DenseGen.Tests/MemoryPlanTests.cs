using System.Linq;
using DenseGen.Execution;
using DenseGen.Model;
using Xunit;
using Xunit.Abstractions;

namespace DenseGen.Tests;

/// <summary>The generator's compile-time TrainingBytes against the arena the runtime lays out, and the budgets.</summary>
public class MemoryPlanTests(ITestOutputHelper output)
{
    public static TheoryData<string, int> Cases => new()
    {
        { nameof(DenseNetBC100K12), 64 }, { nameof(DenseNetBC100K12), 1 }, { nameof(DenseNet40K12), 64 },
        { nameof(Tests.DenseNet121), 64 }, { nameof(SmallBC), 3 }, { nameof(SmallPlain), 5 }, { nameof(SmallImageNet), 2 },
        { nameof(DenseNetBC1000K12), 64 },
    };

    private static (ModelDescription Model, long Bytes) Planned(string name, int batch) => name switch
    {
        nameof(DenseNetBC100K12) => (DenseNetBC100K12.Description, DenseNetBC100K12.TrainingBytes(batch)),
        nameof(DenseNet40K12) => (DenseNet40K12.Description, DenseNet40K12.TrainingBytes(batch)),
        nameof(Tests.DenseNet121) => (Tests.DenseNet121.Description, Tests.DenseNet121.TrainingBytes(batch)),
        nameof(SmallBC) => (SmallBC.Description, SmallBC.TrainingBytes(batch)),
        nameof(SmallPlain) => (SmallPlain.Description, SmallPlain.TrainingBytes(batch)),
        nameof(SmallImageNet) => (SmallImageNet.Description, SmallImageNet.TrainingBytes(batch)),
        _ => (DenseNetBC1000K12.Description, DenseNetBC1000K12.TrainingBytes(batch)),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Compile_time_training_bytes_equal_the_runtime_arena(string name, int batch)
    {
        var (model, bytes) = Planned(name, batch);
        var plan = new MemoryPlan(model, batch);
        output.WriteLine($"{name} at batch {batch}: {bytes / (1024.0 * 1024.0):F1} MiB");
        Assert.Equal(bytes, plan.Bytes);
    }

    /// <summary>
    /// Every region of a multiple of 4 floats (every image tensor of 4k-pixel images, so every view a 1x1 conv gathers
    /// 16-byte quads from: block values and gradients) starts 16 bytes aligned, at any batch size, and so does the
    /// scratch, whatever its length; the regions tile the arena without overlap.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Regions_of_whole_quads_start_16_bytes_aligned_and_tile_the_arena(string name, int batch)
    {
        var (model, _) = Planned(name, batch);
        foreach (int n in new[] { batch, 1, 3, 7 })
        {
            var plan = new MemoryPlan(model, n);
            long end = 0;
            foreach (var (region, offset, length) in plan.Regions.OrderBy(r => r.Offset))
            {
                Assert.True(offset == end, $"{region} at {offset}, the previous region ends at {end}");
                end = offset + length;
                if (length % 4 == 0) Assert.True(offset % 4 == 0, $"{name}, batch {n}: {region} ({length} floats) starts at float {offset}, not 16 bytes aligned");
            }
            Assert.Equal(plan.Elements, end);
            Assert.True(plan["scratch"].Offset % 4 == 0, $"{name}, batch {n}: the scratch ({plan["scratch"].Length} floats) is not 16 bytes aligned");
            var sizes = MemoryPlan.BlockSizes(model);
            for (int b = 0; b < sizes.Length; b++)
                if (sizes[b] * sizes[b] % 4 == 0)
                    foreach (string tensor in new[] { "value", "grad" })
                        Assert.True(plan[$"block{b + 1}.{tensor}"].Offset % 4 == 0, $"{name}, batch {n}: block{b + 1}.{tensor} is not 16 bytes aligned");
        }
    }

    [Fact]
    public void DenseNetBC100_trains_at_batch_64_in_at_most_256_MiB()
    {
        // PyTorch's memory-efficient DenseNet needs 1.6 GB for this (DESIGN §8).
        long bytes = DenseNetBC100K12.TrainingBytes(64);
        output.WriteLine($"DenseNet-BC-100 k12, batch 64: {bytes / (1024.0 * 1024.0):F1} MiB");
        Assert.True(bytes <= 256L * 1024 * 1024, $"{bytes} bytes");
    }

    [Fact]
    public void A_thousand_layer_DenseNetBC_plans_under_4_GB_at_batch_64()
    {
        long bytes = DenseNetBC1000K12.TrainingBytes(64);
        output.WriteLine($"DenseNet-BC-1000 k12, batch 64: {bytes / (1024.0 * 1024.0 * 1024.0):F2} GiB, {DenseNetBC1000K12.ParameterCount:N0} parameters");
        Assert.True(bytes < 4_000_000_000L, $"{bytes} bytes");
    }

    [Fact]
    public void The_session_allocates_exactly_the_planned_arena()
    {
        using var session = SmallBC.CreateSession(TestDevice.Instance, 3);
        Assert.Equal(SmallBC.TrainingBytes(3), session.Plan.Bytes);
        Assert.Equal(SmallBC.TrainingBytes(3), session.ArenaBytes);
    }
}
