using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

// dotnet run -c Release --project benchmarks/DenseGen.Benchmarks -- --filter '*TrainingStep*' '*Convolution*'
// The device is the best present; DENSEGEN_DEVICE=cpu|opencl|cuda picks one (OpenCL here: inside
// ../shared/opencl/run-in-pocl.sh). A step takes seconds on a CPU, so each iteration is one call (Monitoring),
// and the job runs in process so that it also runs inside the PoCL chroot without building there.
var job = Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithStrategy(RunStrategy.Monitoring)
    .WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(3);
BenchmarkSwitcher.FromAssembly(typeof(DenseGen.Benchmarks.TrainingStepBenchmarks).Assembly)
    .Run(args, DefaultConfig.Instance.AddJob(job.AsDefault()));
