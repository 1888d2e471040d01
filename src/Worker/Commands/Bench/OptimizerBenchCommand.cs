using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Optim;
using Adan.Sharded.Threading;
using Adan.Sharded.Zero;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using AdanOptimizer = Adan.Sharded.Optim.Adan;

namespace Adan.Worker.Commands.Bench;

/// <summary>
/// <c>adan bench optimizer</c>: times the optimizer step of one configuration (kernel, size,
/// tensor count, threads) and a STREAM triad over buffers of the same footprint in the same
/// process, so the kernel's bandwidth can be read as a fraction of what the machine delivers. The <c>sharded</c> kernel
/// times the update phase of the <see cref="ShardedOptimizer"/>'s fused Adan on one rank with its state stored as
/// <c>--state</c> (fp32, bf16, 8bit) and reports the state's bytes per parameter; it skips the triad.
/// </summary>
internal static class OptimizerBenchCommand
{
    private const int WarmupSteps = 2;
    private static readonly string[] Kernels = ["fused", "reference", "adamw", "sharded"];

    public static Command Create()
    {
        var parameters = new Option<long>("--params") { Description = "Total number of parameters (fp32 elements).", DefaultValueFactory = _ => 16L << 20 };
        var tensors = new Option<int>("--tensors") { Description = "Number of parameter tensors the parameters are split into.", DefaultValueFactory = _ => 1 };
        var threads = new Option<int>("--threads") { Description = "Threads for the fused kernel and for torch's intra-op pool.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var kernel = new Option<string>("--kernel") { Description = "fused | reference (Adan) or adamw (TorchSharp's AdamW).", DefaultValueFactory = _ => "fused" };
        kernel.AcceptOnlyFromAmong(Kernels);
        var steps = new Option<int>("--steps") { Description = "Timed steps (after warm-up); the median is reported.", DefaultValueFactory = _ => 10 };
        var json = new Option<FileInfo?>("--json") { Description = "Write the record to this file (it is always printed)." };
        var state = new Option<string>("--state") { Description = "fp32 | bf16 | 8bit: how the sharded kernel stores Adan's state.", DefaultValueFactory = _ => "fp32" };
        state.AcceptOnlyFromAmong([.. OptimizerStateModes.Names]);

        var command = new Command("optimizer", "Time one optimizer step configuration against a STREAM triad.")
        {
            parameters, tensors, threads, kernel, steps, json, state,
        };
        command.SetAction(result => Run(result.GetValue(parameters), result.GetValue(tensors), result.GetValue(threads),
            result.GetValue(kernel)!, result.GetValue(steps), result.GetValue(json), OptimizerStateModes.Parse(result.GetValue(state)!)));
        return command;
    }

    private static int Run(long nParams, int nTensors, int threads, string kernel, int steps, FileInfo? json, OptimizerStateMode state)
    {
        if (nParams < 1 || nTensors < 1 || nTensors > nParams || threads < 1 || steps < 1)
        {
            throw new UsageException("need --params >= 1, 1 <= --tensors <= --params, --threads >= 1 and --steps >= 1 " +
                $"(got {nParams}, {nTensors}, {threads}, {steps}).");
        }

        NativeThreadDefaults.Apply(threads);
        ComputeThread.Bind(threads);

        if (kernel == "sharded")
        {
            var (ms, bytes) = TimeSharded(nParams, nTensors, state, steps);
            return Write(new OptimizerBenchResult(kernel, nParams, nTensors, threads, steps, Math.Round(ms, 4), 0, 0)
            {
                State = state.Name(),
                StateBytesPerParam = Math.Round((double)bytes / nParams, 4),
            }, json);
        }
        var stepMs = TimeOptimizer(nParams, nTensors, kernel, steps);
        double triadGbps;
        // Three buffers of 2N floats: the six fp32 arrays of N the optimizer streams through.
        using (var triad = new StreamTriad(2 * nParams))
        {
            triadGbps = triad.MeasureGbps(threads, WarmupSteps, Math.Max(steps, 5));
        }

        return Write(new OptimizerBenchResult(kernel, nParams, nTensors, threads, steps, Math.Round(stepMs, 4),
            Math.Round(11.0 * sizeof(float) * nParams / (stepMs / 1e3) / 1e9, 3), Math.Round(triadGbps, 3)), json);
    }

    private static int Write(OptimizerBenchResult record, FileInfo? json)
    {
        var text = JsonSerializer.Serialize(record);
        Console.WriteLine(text);
        if (json is not null)
        {
            File.WriteAllText(json.FullName, text + Environment.NewLine);
        }
        return ExitCodes.Success;
    }

    /// <summary>The median update phase of the engine's fused Adan on one rank, and its state bytes (the fp32 master parameters apart).</summary>
    private static (double Ms, long StateBytes) TimeSharded(long nParams, int nTensors, OptimizerStateMode mode, int steps)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(42);
        var parameters = new (string, Parameter)[nTensors];
        for (var t = 0; t < nTensors; t++)
        {
            var size = nParams / nTensors + (t == nTensors - 1 ? nParams % nTensors : 0);
            parameters[t] = ($"p{t}", new Parameter(randn(size, generator: generator)));
        }
        using var collective = new SingleProcessCollective();
        using var flat = new FlatParameters(parameters, 1, mode.Alignment());
        using var adan = ShardedOptimizers.Create(flat, collective, new AdanGroupOptions { LearningRate = 1e-3, WeightDecay = 0.02 },
            kernel: UpdateKernel.Fused, measureGradientNoise: false, stateMode: mode, stateSeed: 42);
        var ms = new double[steps];
        for (var i = -WarmupSteps; i < steps; i++)
        {
            foreach (var (_, p) in parameters)
            {
                p.grad = randn(p.numel(), generator: generator);
            }
            adan.Step();
            if (i >= 0)
            {
                ms[i] = adan.LastTimings.Update.TotalMilliseconds;
            }
        }
        return (Statistics.Median(ms), adan.StateBytes);
    }

    private static double TimeOptimizer(long nParams, int nTensors, string kernel, int steps)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(42);
        var parameters = new Parameter[nTensors];
        for (var t = 0; t < nTensors; t++)
        {
            var size = nParams / nTensors + (t == nTensors - 1 ? nParams % nTensors : 0);
            parameters[t] = new Parameter(randn(size, generator: generator));
            parameters[t].grad = randn(size, generator: generator);
        }

        using optim.Optimizer optimizer = kernel switch
        {
            "adamw" => optim.AdamW(parameters),
            _ => new AdanOptimizer(parameters) { Kernel = kernel == "fused" ? AdanKernelKind.Fused : AdanKernelKind.Reference },
        };
        for (var i = 0; i < WarmupSteps; i++)
        {
            optimizer.step();
        }
        var ms = new double[steps];
        for (var i = 0; i < steps; i++)
        {
            var start = Stopwatch.GetTimestamp();
            optimizer.step();
            ms[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        return Statistics.Median(ms);
    }
}
