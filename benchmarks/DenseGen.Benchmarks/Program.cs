using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/DenseGen.Benchmarks -- --filter '*TrainingStep*'
// The device is the best present; DENSEGEN_DEVICE=cpu|opencl|cuda picks one (OpenCL here: inside ../shared/opencl/run-in-pocl.sh).
BenchmarkSwitcher.FromAssembly(typeof(DenseGen.Benchmarks.TrainingStepBenchmarks).Assembly).Run(args);
