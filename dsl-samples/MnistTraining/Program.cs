using System;
using System.IO;
using DenseGen.Data;
using DenseGen.Execution;
using DenseGen.Training;
using Samples.Mnist;

// Trains MnistDenseNet on the MNIST digits in IDX format and prints the test accuracy after each epoch.
//   dotnet run --project dsl-samples/MnistTraining -- [DATA_FOLDER] [EPOCHS]
// DATA_FOLDER defaults to ../shared/data/mnist; the device is the best present (DENSEGEN_DEVICE overrides it).
string folder = args.Length > 0 ? args[0] : Path.Combine("..", "shared", "data", "mnist");
int epochs = args.Length > 1 ? int.Parse(args[1]) : 3;
try
{
    var train = MnistReader.ReadSplit(folder, "train");
    var test = MnistReader.ReadSplit(folder, "t10k");
    using var device = ComputeDevice.Open();
    using var session = MnistDenseNet.CreateSession(device, batchSize: 64);
    Console.WriteLine($"{MnistDenseNet.Description.Name}: {MnistDenseNet.ParameterCount:N0} parameters, on {device}; " +
                      $"{train.Count} training and {test.Count} test digits from {folder}; {session.ArenaBytes / 1048576.0:F1} MiB on the device");
    var trainer = new Trainer(session, train, test);
    var clock = System.Diagnostics.Stopwatch.StartNew();
    var history = trainer.Run(new TrainingOptions(epochs, LearningRate: 0.1f), onStep: (epoch, step, loss) =>
    {
        if (step % 25 == 0) Console.WriteLine($"  epoch {epoch} step {step}: loss {loss:F4} ({clock.Elapsed.TotalSeconds:F0} s)");
    }, onEpoch: report =>
        Console.WriteLine($"epoch {report.Epoch}: lr {report.LearningRate:G3}, train loss {report.TrainLoss:F4}, " +
                          $"test accuracy {report.TestAccuracy:P2}, {report.ImagesPerSecond:F0} images/s"));
    Console.WriteLine($"test accuracy {history[^1].TestAccuracy:P2}");
    return 0;
}
catch (Exception error) when (error is DataFormatException or FileNotFoundException or TrainingDivergedException)
{
    Console.Error.WriteLine($"error: {error.Message}");
    return 1;
}
