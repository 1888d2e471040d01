using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using Adan.Sharded.Mpi;
using Adan.Sharded.Optim;
using Adan.Sharded.Threading;
using Adan.Sharded.Zero;
using TorchSharp;
using TorchSharp.Modules;

namespace Adan.Worker.Commands.Bench;

/// <summary>
/// <c>mpiexec.mpich -n W adan bench zero --params N --stage 0|1|2 [--layers L] --json FILE</c>: per-rank
/// optimizer memory, peak gradient memory and ShardedOptimizer step time split into reduce-scatter, update and all-gather.
/// </summary>
/// <remarks>
/// <para>
/// Gradients come from one of two sources. Without <c>--layers</c> (or 0) one parameter of N elements gets a copy of
/// the same random gradient every step and the optimizer reduces it in the step: the step's cost in isolation.
/// With <c>--layers L</c> a real forward and backward of an MLP of L square Linear layers (about N weights, a
/// micro-batch of <c>--batch</c> rows) writes them, with the overlapped reduction of <c>adan train</c> (buckets of
/// <c>--bucket-kib</c> launched while backward runs; at W = 1 none), so ZeRO-2 returns the pages of shards this
/// rank does not own as their buckets complete, at most
/// <see cref="GradientSync.DefaultMaxBucketsInFlight"/> buckets in flight (<c>--in-flight</c>).
/// </para>
/// <para>
/// Gradient memory is measured, not computed: the flat gradient buffer's resident pages (<c>mincore</c>). With
/// copied gradients, sampled once they are written (the peak) and after the step (what is held between steps). With
/// backward, <see cref="FlatParameters.TrackResidentGradientPeak"/> samples before every release and after the step,
/// which is the true peak of the step; the two warm-up steps are left out (the first starts with the whole buffer
/// resident from its allocation). The maximum over timed steps and ranks is reported as
/// <c>peak_gradient_bytes_per_rank</c>, with the terms that bound it: <c>gradient_buffer_bytes</c> (ZeRO-0/1 hold all
/// of it), <c>shard_gradient_bytes</c>, <c>largest_parameter_bytes</c> (autograd writes a whole gradient before its
/// buckets can launch) and <c>bucket_bytes</c>. <c>ms_zero_and_write_gradients</c> times ZeroGrad plus the write
/// of every gradient (the copy, or forward and backward with the launches during it): it carries the page faults
/// that a decommitted buffer pays.
/// </para>
/// </remarks>
internal static class ZeroBench
{
    public static Command Create()
    {
        var parameters = new Option<long>("--params") { Description = "Number of fp32 parameters (about, with --layers)", DefaultValueFactory = _ => 16L << 20 };
        var stage = new Option<int>("--stage") { Description = "ZeRO stage: 0 (replicated), 1 or 2", DefaultValueFactory = _ => 1 };
        stage.AcceptOnlyFromAmong("0", "1", "2");
        var steps = new Option<int>("--steps") { Description = "Timed steps after two warm-up steps", DefaultValueFactory = _ => 10 };
        var layers = new Option<int>("--layers")
        {
            Description = "Write the gradients by forward and backward of an MLP of this many square layers with overlapped reduction (0: copy them in)",
            DefaultValueFactory = _ => 0,
        };
        var batch = new Option<int>("--batch") { Description = "Micro-batch rows of the MLP (with --layers)", DefaultValueFactory = _ => 64 };
        var bucketKib = new Option<int>("--bucket-kib") { Description = "Bucket size of the overlapped reduction in KiB (with --layers)", DefaultValueFactory = _ => 1024 };
        var inFlight = new Option<int>("--in-flight")
        {
            Description = "ZeRO-2 with --layers: buckets in flight at most while pages are released",
            DefaultValueFactory = _ => GradientSync.DefaultMaxBucketsInFlight,
        };
        var json = new Option<FileInfo?>("--json") { Description = "Write the record to this file (rank 0)" };
        var command = new Command("zero", "ShardedOptimizer step time and memory per rank (run under mpiexec.mpich -n W)")
        {
            parameters, stage, steps, layers, batch, bucketKib, inFlight, json,
        };
        command.SetAction(r => Run(r.GetValue(parameters), (ZeroStage)r.GetValue(stage), r.GetValue(steps),
            new Backward(r.GetValue(layers), r.GetValue(batch), r.GetValue(bucketKib), r.GetValue(inFlight)), r.GetValue(json)));
        return command;
    }

    /// <summary>How <c>--layers</c> writes the gradients (<see cref="Layers"/> 0: copied in instead).</summary>
    private sealed record Backward(int Layers, int Batch, int BucketKib, int InFlight);

    private static int Run(long n, ZeroStage stage, int steps, Backward backward, FileInfo? json)
    {
        if (n < 1 || steps < 1)
        {
            throw new UsageException($"--params ({n}) and --steps ({steps}) must be ≥ 1");
        }
        if (backward.Layers < 0 || backward.Batch < 1 || backward.BucketKib < 1 || backward.InFlight < 1)
        {
            throw new UsageException(
                $"--layers ({backward.Layers}) must be ≥ 0, --batch ({backward.Batch}), --bucket-kib ({backward.BucketKib}) and --in-flight ({backward.InFlight}) ≥ 1");
        }
        var threads = HostThreads.PerRank();
        NativeThreadDefaults.Apply(threads);
        ComputeThread.Bind(threads);
        using var collective = new MpiCollective();
        torch.manual_seed(1);
        var width = backward.Layers > 0 ? LayeredMlp.WidthFor(n, backward.Layers) : 0;
        using var model = backward.Layers > 0 ? new LayeredMlp(backward.Layers, width) : null;
        using var parameter = model is null ? new Parameter(torch.randn(n)) : null;
        using var flat = model is not null ? FlatParameters.FromModule(model, collective.WorldSize) : new FlatParameters([("weights", parameter!)], collective.WorldSize);
        var bucketBytes = (long)backward.BucketKib * 1024;
        // Copied gradients (or one rank) are reduced in the step by the engine's own sync, with its default buckets.
        using var overlap = model is not null && collective.WorldSize > 1
            ? new GradientSync(flat, collective, stage == ZeroStage.Replicated ? GradientReduction.AllReduce : GradientReduction.ReduceScatter,
                bucketBytes, overlapWith: model) { MaxBucketsInFlight = backward.InFlight }
            : null;
        using var adan = ShardedOptimizers.Create(flat, collective, new AdanGroupOptions(), stage: stage, sync: overlap);
        using var gradient = model is null ? torch.randn(flat.Layout.TotalNumel) : null;
        using var x = model is not null ? torch.randn(backward.Batch, width) : null;
        using var y = model is not null ? torch.randn(backward.Batch, width) : null;
        flat.TrackResidentGradientPeak = model is not null;

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
            if (model is null)
            {
                flat.Gradients.copy_(gradient!);
            }
            else
            {
                flat.ResetResidentGradientPeak();
                flat.SampleResidentGradients();
                overlap?.Arm();
                using var scope = torch.NewDisposeScope();
                torch.nn.functional.mse_loss(model.call(x!), y!).backward();
            }
            var writeMs = Stopwatch.GetElapsedTime(w0).TotalMilliseconds;
            var written = flat.ResidentGradientBytes;
            if (model is null)
            {
                // Copied gradients: time the step alone. With backward the step waits for what is in flight.
                collective.Barrier();
            }
            adan.Step();
            var t = adan.LastTimings;
            var after = model is null ? flat.ResidentGradientBytes : flat.SampleResidentGradients();
            var peak = model is null ? Math.Max(written, after) : flat.PeakResidentGradientBytes;
            if (model is null || i >= 0)
            {
                peakGradientBytes = Math.Max(peakGradientBytes, peak);
                betweenStepsGradientBytes = Math.Max(betweenStepsGradientBytes, after);
            }
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
            var layout = flat.Layout;
            var text = JsonSerializer.Serialize(new
            {
                world_size = collective.WorldSize,
                stage = (int)stage,
                n_params = layout.ParameterNumel,
                gradients = model is null
                    ? "copied in"
                    : $"forward and backward of {backward.Layers} Linear layers {width}x{width}, micro-batch {backward.Batch}, "
                      + (overlap is null ? "reduced in the step (one rank)" : $"overlapped reduction in {overlap.Buckets.Count} buckets"),
                shard_elems = adan.StateLength,
                state_bytes_per_rank = adan.StateBytes,
                padding_elems = adan.PaddingInState,
                peak_gradient_bytes_per_rank = bytes[0],
                gradient_bytes_between_steps_per_rank = bytes[1],
                gradient_bytes_measured = PageMemoryCounted(),
                gradient_buffer_bytes = layout.TotalNumel * sizeof(float),
                shard_gradient_bytes = layout.ShardSize * sizeof(float),
                largest_parameter_bytes = layout.Entries.Max(e => e.Numel) * sizeof(float),
                bucket_bytes = overlap is null ? (long?)null : overlap.Buckets.Max(b => b.Length) * sizeof(float),
                buckets = overlap?.Buckets.Count,
                max_buckets_in_flight = overlap?.ReleaseNonOwnedGradients == true ? overlap.MaxBucketsInFlight : (int?)null,
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
