using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/DenseGen.Benchmarks -- --filter '*Generator*'
BenchmarkSwitcher.FromAssembly(typeof(DenseGen.Benchmarks.GeneratorBenchmarks).Assembly).Run(args);
