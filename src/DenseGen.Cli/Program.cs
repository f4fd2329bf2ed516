using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using DenseGen.Cli;
using DenseGen.Data;
using DenseGen.Execution;
using DenseGen.IO;
using DenseGen.Training;
using Spectre.Console;

// densegen COMMAND [--options]: train, eval, summary, bench, export. With no arguments: train on the embedded digits.
// Errors in the input (a bad file, a bad option, a run that diverges) print one message and exit 1; no stack trace.
try
{
    string command = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[0] : "train";
    var rest = args.SkipWhile(a => a == command).ToArray();
    return command switch
    {
        "train" => Commands.Train(new Arguments(rest, "resume", "augment", "no-augment", "recompute-bottlenecks", "cuda-graphs")),
        "eval" => Commands.Eval(new Arguments(rest)),
        "summary" => Commands.Summary(new Arguments(rest, "list")),
        "bench" => Commands.Bench(new Arguments(rest, "recompute-bottlenecks", "cuda-graphs")),
        "export" => Commands.Export(new Arguments(rest)),
        "kernels" => Commands.Kernels(new Arguments(rest)),
        "help" or "-h" or "--help" => Commands.Help(),
        _ => throw new UsageException($"unknown command '{command}'; run 'densegen help'."),
    };
}
catch (Exception error) when (error is UsageException or DataFormatException or FileNotFoundException or DirectoryNotFoundException
                              or TrainingDivergedException or ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"densegen: {error.Message}");
    return 1;
}

namespace DenseGen.Cli
{
    internal static class Commands
    {
        public static int Help()
        {
            Console.WriteLine("""
                densegen train   [--model NAME] [--data FOLDER] [--epochs N] [--batch N] [--lr X] [--schedule step|cosine]
                                 [--seed N] [--augment|--no-augment] [--out FOLDER] [--resume] [--device cpu|opencl|cuda[:i]]
                                 [--limit N (the first N training images: a quick look)]
                                 [--recompute-bottlenecks (less memory: bottleneck outputs recomputed in the backward, one more 1x1 conv per layer)]
                                 [--cuda-graphs (CUDA: each step's forward and backward replayed from one captured graph)]
                densegen eval    --model NAME --weights FILE [--data FOLDER] [--batch N] [--device D]
                densegen summary [--model NAME] [--list]
                densegen bench   [--model NAME] [--data FOLDER] [--batch N] [--steps N] [--device D] [--recompute-bottlenecks] [--cuda-graphs]
                densegen export  --model NAME [--weights FILE] --onnx FILE
                densegen kernels [--arch sm_90[,sm_80,...]] [--ptxas FILE] [--out FOLDER]   (kernels assembled ahead of time for GPUs)

                With no --data, train uses the 8,000 + 2,000 MNIST digits embedded in the program and the model densenet-mnist.
                Models: 
                """ + string.Join(", ", Networks.ByName.Keys));
            return 0;
        }

        /// <summary>
        /// Assembles every kernel for a CUDA architecture ahead of time (KernelImages): a session on such a GPU then loads
        /// machine code instead of compiling. Needs NVIDIA's ptxas (--ptxas, else DENSEGEN_PTXAS, else on the PATH), no GPU.
        /// By default into "densegen-kernels" beside this program, where its sessions look.
        /// </summary>
        public static int Kernels(Arguments a)
        {
            string arch = a.String("arch") ?? "sm_90";
            string? ptxas = a.String("ptxas") ?? (Environment.GetEnvironmentVariable("DENSEGEN_PTXAS") is { Length: > 0 } set ? set : null)
                ?? (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
                    .Select(d => Path.Combine(d, "ptxas")).FirstOrDefault(File.Exists);
            string output = a.String("out") ?? Path.Combine(AppContext.BaseDirectory, KernelImages.ShippedFolderName);
            a.EnsureAllUsed();
            if (ptxas is null) throw new UsageException("kernels: ptxas not found: pass --ptxas FILE (CUDA's ptxas; bash .ci/get-ptxas.sh unpacks CUDA 11.8's) or put it on the PATH.");
            var archs = arch.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (string each in archs) KernelImages.ParseArchitecture(each); // all valid before any is built
            foreach (string each in archs)
            {
                var report = KernelImages.Build(output, each, ptxas);
                Console.WriteLine($"{report.Kernels} kernels for {each} in {report.Folder} ({report.Bytes / 1024.0:N0} KiB; ILGPU {report.CompileSeconds:F1} s, " +
                                  $"ptxas {report.AssembleSeconds:F1} s summed over threads; {report.Ptxas})");
                if (report.Spilling.Count > 0) Console.WriteLine($"warning: on {each} these kernels spill registers to local memory (slower, still correct): {string.Join(", ", report.Spilling)}");
            }
            Console.WriteLine($"Sessions on {arch} GPUs load these when DENSEGEN_KERNEL_IMAGES={output}" +
                              (a.String("out") is null ? " or by default (beside this program)." : " (or when the folder is named densegen-kernels beside the program)."));
            return 0;
        }

        /// <summary>--recompute-bottlenecks: the memory-lean mode (a bottleneck layer's 1x1 output recomputed in the backward, not kept).</summary>
        private static BottleneckMode Bottlenecks(Arguments a) => a.Flag("recompute-bottlenecks") ? BottleneckMode.Recompute : BottleneckMode.Store;

        private static string Describe(BottleneckMode bottlenecks) => bottlenecks == BottleneckMode.Store ? "stored" : "recomputed";

        public static int Train(Arguments a)
        {
            string? data = a.String("data");
            var model = Networks.Find(a.String("model") ?? (data is null ? "densenet-mnist" : "densenet-bc-100-k12"));
            var splits = DataSets.Load(data, model).Limit(a.Int("limit", int.MaxValue, min: 1));
            int epochs = a.Int("epochs", data is null ? 5 : splits.Cifar ? 300 : 90, min: 1);
            int batch = a.Int("batch", 64, min: 1);
            bool augment = a.Flag("augment") || (splits.Cifar && !a.Flag("no-augment"));
            a.Flag("no-augment");
            var schedule = (a.String("schedule") ?? "step") switch
            {
                "step" => LearningRateSchedule.Step,
                "cosine" => LearningRateSchedule.Cosine,
                var s => throw new UsageException($"--schedule {s}: use step (the paper's) or cosine."),
            };
            string output = a.String("out") ?? Path.Combine("runs", model.Name);
            var options = new TrainingOptions(epochs, a.Float("lr", 0.1f), Seed: a.Int("seed", 0), Augment: augment, Schedule: schedule,
                CheckpointPath: Path.Combine(output, "checkpoint.safetensors"), Resume: a.Flag("resume"));
            string? device = a.String("device");
            var bottlenecks = Bottlenecks(a);
            bool graphs = a.Flag("cuda-graphs");
            a.EnsureAllUsed();

            Directory.CreateDirectory(output);
            if (!options.Resume && File.Exists(options.CheckpointPath))
                throw new UsageException($"{options.CheckpointPath} exists: pass --resume to continue that run, or --out another folder.");
            using var gpu = ComputeDevice.Open(device);
            using var session = new DenseNetSession(model, gpu, batch, bottlenecks) { CudaGraphs = graphs };
            var trainer = new Trainer(session, splits.Train, splits.Test);
            Console.WriteLine($"{model.Name}: {model.ParameterCount:N0} parameters, batch {batch}, {epochs} epochs ({schedule} schedule, lr {options.LearningRate}, " +
                              $"{(augment ? "augmented" : "no augmentation")}), seed {options.Seed}, on {gpu} ({session.ArenaBytes / 1048576.0:F1} MiB, bottleneck outputs {Describe(bottlenecks)})");
            if (graphs) Console.WriteLine($"CUDA graphs: {session.CudaGraphStatus}");
            Console.WriteLine($"data: {splits.Description}");

            string csv = Path.Combine(output, "log.csv"), png = Path.Combine(output, "curves.png");
            int steps = splits.Train.Count / batch;
            var clock = Stopwatch.StartNew();
            void Record(System.Collections.Generic.IReadOnlyList<EpochReport> history)
            {
                TrainingLog.WriteCsv(csv, history);
                TrainingLog.WritePlot(png, $"{model.Name} on {(data is null ? "embedded MNIST" : Path.GetFileName(Path.GetFullPath(data)))}", history);
            }
            var reports = new System.Collections.Generic.List<EpochReport>();
            string Line(EpochReport r) => $"epoch {r.Epoch}/{epochs}: lr {r.LearningRate:G3}, train loss {r.TrainLoss:F4}, test loss {r.TestLoss:F4}, " +
                                          $"test error {r.TestError:P2} (top-5 {r.TestTop5Error:P2}), {r.ImagesPerSecond:F0} images/s";
            System.Collections.Generic.IReadOnlyList<EpochReport> all;
            if (AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected)
            {
                all = [];
                AnsiConsole.Progress().AutoClear(false)
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("starting", maxValue: (double)epochs * steps);
                        double lossAvg = double.NaN;
                        all = trainer.Run(options, onEpoch: r =>
                        {
                            reports.Add(r);
                            AnsiConsole.MarkupLine(Markup.Escape(Line(r)));
                        }, onStep: (epoch, step, loss) =>
                        {
                            lossAvg = double.IsNaN(lossAvg) ? loss : 0.95 * lossAvg + 0.05 * loss;
                            task.Value = (double)(epoch - 1) * steps + step;
                            double rate = task.Value / Math.Max(clock.Elapsed.TotalSeconds, 1e-3) * batch;
                            string last = reports.Count > 0 ? $", test acc {reports[^1].TestAccuracy:P1}" : "";
                            task.Description = Markup.Escape($"epoch {epoch}/{epochs}  loss {lossAvg:F3}{last}  {rate:F0} img/s");
                        });
                    });
            }
            else
            {
                all = trainer.Run(options, onEpoch: r => { reports.Add(r); Console.WriteLine(Line(r)); },
                    onStep: (epoch, step, loss) =>
                    {
                        if (step % Math.Max(1, steps / 4) == 0)
                            Console.WriteLine($"  epoch {epoch} step {step}/{steps}: loss {loss:F4} ({clock.Elapsed.TotalSeconds:F0} s)");
                    });
            }
            Record(all);
            ModelWeights.Save(session, Path.Combine(output, "weights.safetensors"));
            var last = all[^1];
            Console.WriteLine($"test accuracy {last.TestAccuracy:P2} (top-1 error {last.TestError:P2}) after {all.Count} epochs; " +
                              $"wrote {csv}, {png}, {Path.Combine(output, "weights.safetensors")} and {options.CheckpointPath}");
            return 0;
        }

        public static int Eval(Arguments a)
        {
            var model = Networks.Find(a.String("model") ?? throw new UsageException("eval needs --model NAME."));
            string weights = a.String("weights") ?? throw new UsageException("eval needs --weights FILE (a weights.safetensors or checkpoint.safetensors).");
            string? data = a.String("data");
            int batch = a.Int("batch", 64, min: 1);
            string? device = a.String("device");
            a.EnsureAllUsed();
            var splits = DataSets.Load(data, model);
            using var gpu = ComputeDevice.Open(device);
            using var session = new DenseNetSession(model, gpu, batch);
            LoadWeights(session, weights);
            var result = new Trainer(session, splits.Train, splits.Test).Evaluate(splits.Test);
            Console.WriteLine($"{model.Name} on {splits.Description}: test loss {result.Loss:F4}, top-1 error {1 - result.Top1:P2}, top-5 error {1 - result.Top5:P2}");
            return 0;
        }

        /// <summary>A plain weights file (torchvision names) or a densegen checkpoint, told apart by its metadata.</summary>
        private static void LoadWeights(DenseNetSession session, string path)
        {
            var file = SafeTensorsFile.Open(path);
            if (file.Metadata.TryGetValue("format", out var format) && format == Checkpoint.Format) Checkpoint.Load(path, session);
            else ModelWeights.Load(session, path);
        }

        public static int Summary(Arguments a)
        {
            bool list = a.Flag("list");
            string? name = a.String("model");
            a.EnsureAllUsed();
            if (list || name is null)
            {
                foreach (var (key, m) in Networks.ByName)
                    Console.WriteLine($"{key,-26} {m.ParameterCount,12:N0} parameters  {m.InputChannels}x{m.InputSize}x{m.InputSize} -> {m.Classes} classes");
                return 0;
            }
            Console.WriteLine(Networks.Find(name).Summary());
            return 0;
        }

        /// <summary>
        /// Training images/s three ways in one run: the device alone (a batch already on it), a fixed batch copied in
        /// every step, and real batches through the double-buffered pipeline. The last within 10% of the first means
        /// the data pipeline keeps the device busy.
        /// </summary>
        public static int Bench(Arguments a)
        {
            string? data = a.String("data");
            var model = Networks.Find(a.String("model") ?? (data is null ? "densenet-mnist" : "densenet-bc-100-k12"));
            int batch = a.Int("batch", 64, min: 1), steps = a.Int("steps", 20, min: 2);
            string? device = a.String("device");
            var bottlenecks = Bottlenecks(a);
            bool graphs = a.Flag("cuda-graphs");
            a.EnsureAllUsed();
            var splits = DataSets.Load(data, model);
            using var gpu = ComputeDevice.Open(device);
            using var session = new DenseNetSession(model, gpu, batch, bottlenecks) { CudaGraphs = graphs };
            session.InitializeParameters(0);
            var (mean, std) = splits.Train.ChannelStatistics();
            var pipeline = new BatchPipeline(splits.Train, batch, new Normalization(mean, std), augment: splits.Cifar);
            if (pipeline.StepsPerEpoch < steps) throw new UsageException($"{splits.Train.Count} training images give {pipeline.StepsPerEpoch} batches; ask for --steps {pipeline.StepsPerEpoch} or fewer.");
            var sgd = new SgdOptions(0.01f, 0.9f, 1e-4f, true);
            var order = pipeline.Order(0, 1);
            var fixedBatch = pipeline.Prepare(order, 0, 1, 0, new BatchPipeline.Buffers(new float[batch * model.InputChannels * model.InputSize * model.InputSize], new int[batch], new float[model.InputChannels * model.InputSize * model.InputSize]));
            session.TrainStep(fixedBatch.Images, fixedBatch.Labels, sgd); // warm-up (compiles kernels)

            double Time(Action run) { gpu.Synchronize(); var c = Stopwatch.StartNew(); run(); gpu.Synchronize(); return steps * batch / c.Elapsed.TotalSeconds; }
            double resident = 0, copied = 0, real = 0;
            for (int round = 0; round < 3; round++) // interleaved rounds: the machine's noise hits all three alike
            {
                resident = Math.Max(resident, Time(() => { for (int s = 0; s < steps; s++) { session.ForwardBackwardResident(fixedBatch.Labels); session.Step(sgd); } }));
                copied = Math.Max(copied, Time(() => { for (int s = 0; s < steps; s++) session.TrainStep(fixedBatch.Images, fixedBatch.Labels, sgd); }));
                real = Math.Max(real, Time(() =>
                {
                    int done = 0;
                    try { pipeline.RunEpoch(0, round + 2, (s, b) => { if (done++ >= steps) throw new OperationCanceledException(); session.TrainStep(b.Images, b.Labels, sgd); }); }
                    catch (OperationCanceledException) { }
                }));
            }
            var table = new Table().AddColumns("data", "images/s", "vs. on-device");
            table.AddRow("synthetic, already on the device", $"{resident:F1}", "1.000");
            table.AddRow("fixed batch, copied each step", $"{copied:F1}", $"{copied / resident:F3}");
            table.AddRow($"real: {(splits.Cifar ? "augmented, " : "")}double-buffered pipeline", $"{real:F1}", $"{real / resident:F3}");
            Console.WriteLine($"{model.Name}, batch {batch}, {steps} steps per measurement, best of 3 interleaved rounds, on {gpu}, bottleneck outputs {Describe(bottlenecks)}; data: {splits.Description}");
            AnsiConsole.Write(table);
            if (graphs) Console.WriteLine($"CUDA graphs: {session.CudaGraphStatus}");
            Console.WriteLine(real >= 0.9 * resident ? "the data pipeline keeps the device busy (real data within 10% of on-device data)"
                                                     : $"the data pipeline is a bottleneck: real data at {real / resident:P0} of on-device data");
            return 0;
        }

        public static int Export(Arguments a)
        {
            var model = Networks.Find(a.String("model") ?? throw new UsageException("export needs --model NAME."));
            string? weights = a.String("weights");
            string onnx = a.String("onnx") ?? throw new UsageException("export needs --onnx FILE.");
            a.EnsureAllUsed();
            using var gpu = ComputeDevice.Open("cpu");
            using var session = new DenseNetSession(model, gpu, 1);
            if (weights is null) session.InitializeParameters(0);
            else LoadWeights(session, weights);
            OnnxExport.Write(session, onnx);
            Console.WriteLine($"wrote {onnx}: {model.Name} evaluation graph, opset {OnnxExport.Opset}, {model.ParameterCount:N0} parameters{(weights is null ? " (freshly initialised: no --weights)" : $" from {weights}")}");
            return 0;
        }
    }
}
