using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Mpi;
using Adan.Sharded.Optim;
using Adan.Sharded.Zero;
using TorchSharp;
using TorchSharp.Modules;

namespace Adan.Worker.Commands.Bench;

/// <summary>
/// <c>mpiexec.mpich -n W adan bench zero --params N --stage 0|1|2 --json FILE</c>: per-rank
/// optimizer memory and ShardedAdan step time split into reduce-scatter, update and all-gather.
/// </summary>
/// <remarks>
/// Gradient memory is measured, not computed: the flat gradient buffer's resident pages
/// (<c>mincore</c>; ZeRO-2 keeps its reduced shard inside that buffer), taken once the gradients are
/// written (the peak, what backward leaves) and after the step (what is held between steps); the
/// maximum over steps and ranks is reported. <c>ms_zero_and_write_gradients</c> times ZeroGrad plus
/// one write of every gradient, standing in for backward: it carries the page faults that a
/// decommitted buffer pays.
/// </remarks>
internal static class ZeroBench
{
    public static Command Create()
    {
        var parameters = new Option<long>("--params") { Description = "Number of fp32 parameters", DefaultValueFactory = _ => 16L << 20 };
        var stage = new Option<int>("--stage") { Description = "ZeRO stage: 0 (replicated), 1 or 2", DefaultValueFactory = _ => 1 };
        stage.AcceptOnlyFromAmong("0", "1", "2");
        var steps = new Option<int>("--steps") { Description = "Timed steps after two warm-up steps", DefaultValueFactory = _ => 10 };
        var json = new Option<FileInfo?>("--json") { Description = "Write the record to this file (rank 0)" };
        var command = new Command("zero", "ShardedAdan step time and memory per rank (run under mpiexec.mpich -n W)") { parameters, stage, steps, json };
        command.SetAction(r => Run(r.GetValue(parameters), (ZeroStage)r.GetValue(stage), r.GetValue(steps), r.GetValue(json)));
        return command;
    }

    private static int Run(long n, ZeroStage stage, int steps, FileInfo? json)
    {
        if (n < 1 || steps < 1)
        {
            throw new UsageException($"--params ({n}) and --steps ({steps}) must be ≥ 1");
        }
        using var collective = new MpiCollective();
        var threads = HostThreads.PerRank();
        torch.set_num_threads(threads);
        AdanKernel.Threads = threads;
        torch.manual_seed(1);
        using var parameter = new Parameter(torch.randn(n));
        using var flat = new FlatParameters([("weights", parameter)], collective.WorldSize);
        using var adan = new ShardedAdan(flat, collective, new AdanGroupOptions(), stage: stage);
        using var gradient = torch.randn(flat.Layout.TotalNumel);

        var reduce = new List<double>();
        var update = new List<double>();
        var gather = new List<double>();
        var total = new List<double>();
        var write = new List<double>();
        long peakGradientBytes = 0;
        long betweenStepsGradientBytes = 0;
        for (var i = -2; i < steps; i++)
        {
            var w0 = Stopwatch.GetTimestamp();
            flat.ZeroGrad();
            flat.Gradients.copy_(gradient);
            var writeMs = Stopwatch.GetElapsedTime(w0).TotalMilliseconds;
            var written = flat.ResidentGradientBytes;
            collective.Barrier();
            adan.Step();
            var t = adan.LastTimings;
            var after = flat.ResidentGradientBytes;
            peakGradientBytes = Math.Max(peakGradientBytes, Math.Max(written, after));
            betweenStepsGradientBytes = Math.Max(betweenStepsGradientBytes, after);
            if (i >= 0)
            {
                reduce.Add(collective.AllReduce(t.Reduce.TotalMilliseconds, ReduceOp.Max));
                update.Add(collective.AllReduce(t.Statistics.TotalMilliseconds + t.Update.TotalMilliseconds, ReduceOp.Max));
                gather.Add(collective.AllReduce(t.AllGather.TotalMilliseconds, ReduceOp.Max));
                total.Add(collective.AllReduce(t.Total.TotalMilliseconds, ReduceOp.Max));
                write.Add(collective.AllReduce(writeMs, ReduceOp.Max));
            }
        }
        Span<long> bytes = [peakGradientBytes, betweenStepsGradientBytes];
        collective.AllReduce(bytes, ReduceOp.Max);
        if (collective.Rank == 0)
        {
            var text = JsonSerializer.Serialize(new
            {
                world_size = collective.WorldSize,
                stage = (int)stage,
                n_params = n,
                shard_elems = adan.StateLength,
                state_bytes_per_rank = adan.StateBytes,
                padding_elems = adan.PaddingInState,
                peak_gradient_bytes_per_rank = bytes[0],
                gradient_bytes_between_steps_per_rank = bytes[1],
                gradient_bytes_measured = PageMemoryCounted(),
                threads_per_rank = threads,
                ms_reduce_scatter = Math.Round(Statistics.Median(reduce), 3),
                ms_update = Math.Round(Statistics.Median(update), 3),
                ms_all_gather = Math.Round(Statistics.Median(gather), 3),
                ms_step = Math.Round(Statistics.Median(total), 3),
                ms_zero_and_write_gradients = Math.Round(Statistics.Median(write), 3),
            });
            Console.WriteLine(text);
            if (json is not null)
            {
                File.WriteAllText(json.FullName, text + "\n");
            }
        }
        return ExitCodes.Success;
    }

    /// <summary>How the gradient bytes were obtained: resident pages on Linux, else the buffer sizes.</summary>
    private static string PageMemoryCounted() => OperatingSystem.IsLinux() ? "resident pages (mincore)" : "buffer sizes (not counted)";
}
