using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/DenseGen.Generators.Benchmarks
BenchmarkSwitcher.FromAssembly(typeof(DenseGen.Generators.Benchmarks.GeneratorBenchmarks).Assembly).Run(args);
