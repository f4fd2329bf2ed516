using System;
using System.Linq;
using DenseGen.Execution;
using DenseGen.Model;
using Xunit;
using Xunit.Abstractions;

namespace DenseGen.Tests;

/// <summary>The generator's compile-time TrainingBytes against the arena the runtime lays out, and the budgets.</summary>
public class MemoryPlanTests(ITestOutputHelper output)
{
    public static TheoryData<string, int, BottleneckMode> Cases
    {
        get
        {
            var cases = new TheoryData<string, int, BottleneckMode>();
            foreach (var mode in new[] { BottleneckMode.Store, BottleneckMode.Recompute })
            {
                cases.Add(nameof(DenseNetBC100K12), 64, mode); cases.Add(nameof(DenseNetBC100K12), 1, mode); cases.Add(nameof(DenseNet40K12), 64, mode);
                cases.Add(nameof(Tests.DenseNet121), 64, mode); cases.Add(nameof(SmallBC), 3, mode); cases.Add(nameof(SmallPlain), 5, mode);
                cases.Add(nameof(SmallImageNet), 2, mode); cases.Add(nameof(DenseNetBC1000K12), 64, mode);
                cases.Add(nameof(SmallDropout), 3, mode); // a bottleneck block, then one without
            }
            return cases;
        }
    }

    private static (ModelDescription Model, long Bytes) Planned(string name, int batch, BottleneckMode mode) => name switch
    {
        nameof(DenseNetBC100K12) => (DenseNetBC100K12.Description, DenseNetBC100K12.TrainingBytes(batch, mode)),
        nameof(DenseNet40K12) => (DenseNet40K12.Description, DenseNet40K12.TrainingBytes(batch, mode)),
        nameof(Tests.DenseNet121) => (Tests.DenseNet121.Description, Tests.DenseNet121.TrainingBytes(batch, mode)),
        nameof(SmallBC) => (SmallBC.Description, SmallBC.TrainingBytes(batch, mode)),
        nameof(SmallPlain) => (SmallPlain.Description, SmallPlain.TrainingBytes(batch, mode)),
        nameof(SmallImageNet) => (SmallImageNet.Description, SmallImageNet.TrainingBytes(batch, mode)),
        nameof(SmallDropout) => (SmallDropout.Description, SmallDropout.TrainingBytes(batch, mode)),
        _ => (DenseNetBC1000K12.Description, DenseNetBC1000K12.TrainingBytes(batch, mode)),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Compile_time_training_bytes_equal_the_runtime_arena(string name, int batch, BottleneckMode mode)
    {
        var (model, bytes) = Planned(name, batch, mode);
        var plan = new MemoryPlan(model, batch, mode);
        output.WriteLine($"{name} at batch {batch}, bottlenecks {mode}: {bytes / (1024.0 * 1024.0):F1} MiB");
        Assert.Equal(bytes, plan.Bytes);
    }

    /// <summary>
    /// What keeping the bottleneck outputs costs: exactly one N x 4k x H x W output per bottleneck layer, less the
    /// recomputed output's half of the scratch where that half set the scratch's size; nothing for networks without
    /// bottlenecks.
    /// </summary>
    [Theory]
    [InlineData(nameof(DenseNetBC100K12)), InlineData(nameof(Tests.DenseNet121)), InlineData(nameof(SmallBC)), InlineData(nameof(SmallPlain)), InlineData(nameof(DenseNet40K12))]
    public void Stored_bottlenecks_cost_one_output_per_bottleneck_layer(string name)
    {
        const int n = 4;
        var (model, _) = Planned(name, n, BottleneckMode.Store);
        var stored = new MemoryPlan(model, n, BottleneckMode.Store);
        var lean = new MemoryPlan(model, n, BottleneckMode.Recompute);
        var sizes = MemoryPlan.BlockSizes(model);
        long outputs = model.Layout.Blocks.Select((b, i) => (long)b.Layers.Count * n * MemoryPlan.BottleneckWidth(b) * sizes[i] * sizes[i]).Sum();
        long scratchSaved = lean["scratch"].Length - stored["scratch"].Length;
        output.WriteLine($"{name}: {outputs} floats of bottleneck outputs kept, scratch {lean["scratch"].Length} -> {stored["scratch"].Length}");
        Assert.Equal(outputs - scratchSaved, stored.Elements - lean.Elements);
    }

    /// <summary>
    /// Every region of a multiple of 4 floats (every image tensor of 4k-pixel images, so every view a 1x1 conv gathers
    /// 16-byte quads from: block values and gradients) starts 16 bytes aligned, at any batch size, and so does the
    /// scratch, whatever its length; the regions tile the arena without overlap.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Regions_of_whole_quads_start_16_bytes_aligned_and_tile_the_arena(string name, int batch, BottleneckMode mode)
    {
        var (model, _) = Planned(name, batch, mode);
        foreach (int n in new[] { batch, 1, 3, 7 })
        {
            var plan = new MemoryPlan(model, n, mode);
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
    public void DenseNetBC100_trains_at_batch_64_in_at_most_256_MiB_recomputing_its_bottlenecks_and_512_MiB_storing_them()
    {
        // PyTorch's memory-efficient DenseNet needs 1.6 GB for this (DESIGN §8); its eager DenseNet 2.2 GiB on an H200.
        long lean = DenseNetBC100K12.TrainingBytes(64, BottleneckMode.Recompute), stored = DenseNetBC100K12.TrainingBytes(64);
        output.WriteLine($"DenseNet-BC-100 k12, batch 64: {lean / (1024.0 * 1024.0):F1} MiB recomputing, {stored / (1024.0 * 1024.0):F1} MiB storing");
        Assert.True(lean <= 256L * 1024 * 1024, $"{lean} bytes");
        Assert.True(stored <= 512L * 1024 * 1024, $"{stored} bytes");
    }

    [Fact]
    public void A_thousand_layer_DenseNetBC_plans_under_4_GB_at_batch_64_recomputing_its_bottlenecks()
    {
        long bytes = DenseNetBC1000K12.TrainingBytes(64, BottleneckMode.Recompute);
        output.WriteLine($"DenseNet-BC-1000 k12, batch 64: {bytes / (1024.0 * 1024.0 * 1024.0):F2} GiB, {DenseNetBC1000K12.ParameterCount:N0} parameters");
        Assert.True(bytes < 4_000_000_000L, $"{bytes} bytes");
    }

    /// <summary>
    /// An arena larger than the device can hold (DenseNet-264 at batch 8,192: 340 GiB) fails before any step with what it
    /// needed and what needs less. On OpenCL only: there the allocation fails at once, where the CPU's could be granted
    /// by the operating system's overcommit and fail later, page by page.
    /// </summary>
    [OpenClFact]
    [Trait("Backend", "Device")]
    public void A_session_larger_than_the_device_says_what_it_needs_and_what_needs_less()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new DenseNetSession(DenseNet264.Description, TestDevice.Instance, 8192));
        output.WriteLine(error.Message);
        Assert.Contains("at batch 8192 needs a", error.Message);
        Assert.Contains($"{DenseNet264TrainingMiB(BottleneckMode.Store):F1} MiB arena", error.Message);
        Assert.Contains($"BottleneckMode.Recompute (--recompute-bottlenecks) needs {DenseNet264TrainingMiB(BottleneckMode.Recompute):F1} MiB", error.Message);
        Assert.Contains("a smaller batch", error.Message);
    }

    private static double DenseNet264TrainingMiB(BottleneckMode mode) => new MemoryPlan(DenseNet264.Description, 8192, mode).Bytes / 1048576.0;

    [Theory]
    [InlineData(BottleneckMode.Store), InlineData(BottleneckMode.Recompute)]
    public void The_session_allocates_exactly_the_planned_arena(BottleneckMode mode)
    {
        using var session = SmallBC.CreateSession(TestDevice.Instance, 3, mode);
        Assert.Equal(SmallBC.TrainingBytes(3, mode), session.Plan.Bytes);
        Assert.Equal(SmallBC.TrainingBytes(3, mode), session.ArenaBytes);
    }
}
