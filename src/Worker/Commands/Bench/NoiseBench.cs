using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using Adan.Sharded.Mpi;
using Adan.Sharded.Statistics;
using Adan.Sharded.Threading;
using Adan.Sharded.Zero;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Worker.Commands.Bench;

/// <summary>
/// <c>mpiexec.mpich -n W adan bench noise --stage 0|1|2 --json FILE</c>: what measuring the gradient noise scale costs
/// a training step of the reference MLP (784-8192-10, ReLU, cross-entropy, <c>--batch</c> samples per rank, Adan,
/// overlapped reduction in <c>adan train</c>'s default 25 MiB buckets).
/// </summary>
/// <remarks>
/// <para>
/// Two measurements, from one process so that they share the machine's state. (1) Whole steps (zero the gradients,
/// forward, backward, step, and with measurement on the estimator's update) in blocks of <c>--steps</c> with
/// measurement switched on and off between blocks in the order on-off-off-on, so that a slow drift of the machine
/// falls on both equally; each block's time is the slowest rank's, and the overhead of a pair of neighbouring blocks
/// is on/off − 1: the median over pairs and its range are reported. On a noisy machine this difference can be
/// smaller than the spread, which the range shows. (2) The cost itself: the extra work is one Σ g² over this rank's
/// own gradient (its shard's range under ZeRO-1/2, the whole buffer under ZeRO-0) plus one more scalar in the step's
/// existing all-reduce and a few additions on the host; the Σ g² over a warm buffer of that length is timed
/// <c>--repeats</c> times between the blocks and its median is reported as a share of the median step with
/// measurement off (<c>pass_share_of_step</c>), which does not depend on the difference of two noisy times.
/// </para>
/// </remarks>
internal static class NoiseBench
{
    private const int Inputs = 784;
    private const int Hidden = 8192;
    private const int Classes = 10;
    private const long BucketBytes = 25L << 20;

    public static Command Create()
    {
        var stage = new Option<int>("--stage") { Description = "ZeRO stage: 0 (replicated), 1 or 2", DefaultValueFactory = _ => 1 };
        stage.AcceptOnlyFromAmong("0", "1", "2");
        var batch = new Option<int>("--batch") { Description = "Samples per rank per step", DefaultValueFactory = _ => 64 };
        var steps = new Option<int>("--steps") { Description = "Steps per timed block", DefaultValueFactory = _ => 10 };
        var blocks = new Option<int>("--pairs") { Description = "Pairs of blocks (on, off) after two warm-up blocks; a multiple of 2", DefaultValueFactory = _ => 8 };
        var repeats = new Option<int>("--repeats") { Description = "Timings of the local Σ g² pass between blocks", DefaultValueFactory = _ => 5 };
        var json = new Option<FileInfo?>("--json") { Description = "Write the record to this file (rank 0)" };
        var command = new Command("noise", "Cost of the gradient noise scale measurement on a training step of the reference MLP (run under mpiexec.mpich -n W)")
        {
            stage, batch, steps, blocks, repeats, json,
        };
        command.SetAction(r => Run((ZeroStage)r.GetValue(stage), r.GetValue(batch), r.GetValue(steps), r.GetValue(blocks), r.GetValue(repeats),
            r.GetValue(json)));
        return command;
    }

    private static int Run(ZeroStage stage, int batch, int steps, int pairs, int repeats, FileInfo? json)
    {
        if (batch < 1 || steps < 1 || repeats < 1 || pairs < 2 || pairs % 2 != 0)
        {
            throw new UsageException(
                $"--batch ({batch}), --steps ({steps}) and --repeats ({repeats}) must be ≥ 1 and --pairs ({pairs}) an even number ≥ 2");
        }
        var threads = HostThreads.PerRank();
        NativeThreadDefaults.Apply(threads);
        ComputeThread.Bind(threads);
        using var collective = new MpiCollective();
        if (collective.WorldSize < 2)
        {
            throw new UsageException("the noise scale is measured from the ranks' local gradients: run under mpiexec.mpich -n 2 or more");
        }
        torch.manual_seed(1);
        using var model = nn.Sequential(("fc1", nn.Linear(Inputs, Hidden)), ("relu", nn.ReLU()), ("fc2", nn.Linear(Hidden, Classes)));
        using var flat = FlatParameters.FromModule(model, collective.WorldSize);
        collective.Broadcast(flat.Values);
        using var sync = new GradientSync(flat, collective,
            stage == ZeroStage.Replicated ? GradientReduction.AllReduce : GradientReduction.ReduceScatter, BucketBytes, overlapWith: model);
        using var optimizer = ShardedOptimizers.Create(flat, collective, new AdanGroupOptions(), stage: stage, sync: sync);
        torch.manual_seed(100 + collective.Rank);
        using var x = torch.randn(batch, Inputs);
        using var y = torch.randint(0, Classes, [batch], dtype: ScalarType.Int64);
        var estimator = new GradientNoiseScale(batch, (long)batch * collective.WorldSize);
        var localLength = stage == ZeroStage.Replicated ? flat.Layout.TotalNumel : flat.Layout.ShardSize;
        using var localBuffer = torch.randn(localLength);

        double Block(bool measure)
        {
            optimizer.MeasuresGradientNoise = measure;
            collective.Barrier();
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < steps; i++)
            {
                flat.ZeroGrad();
                sync.Arm();
                using (var scope = torch.NewDisposeScope())
                {
                    nn.functional.cross_entropy(model.call(x), y).backward();
                }
                optimizer.Step();
                if (optimizer.LastNoiseSample is { } sample)
                {
                    estimator.Add(sample.SmallSquaredNorm, sample.BigSquaredNorm);
                }
            }
            return collective.AllReduce(Stopwatch.GetElapsedTime(start).TotalMilliseconds / steps, ReduceOp.Max);
        }

        var passes = new List<double>();
        void TimePass()
        {
            for (var i = 0; i < repeats; i++)
            {
                var start = Stopwatch.GetTimestamp();
                _ = SumOfSquares.OfStatistic(localBuffer, "local gradient");
                passes.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }

        Block(true);
        Block(false);
        var on = new List<double>();
        var off = new List<double>();
        for (var p = 0; p < pairs; p++)
        {
            // on-off, off-on, ...: a drift over the run lands on both settings alike.
            var onFirst = p % 2 == 0;
            var first = Block(onFirst);
            var second = Block(!onFirst);
            on.Add(onFirst ? first : second);
            off.Add(onFirst ? second : first);
            TimePass();
        }
        var overheads = on.Zip(off, (a, b) => a / b - 1).ToList();
        var passMs = collective.AllReduce(Statistics.Median(passes), ReduceOp.Max);
        var offMedian = Statistics.Median(off);
        if (collective.Rank == 0)
        {
            var text = JsonSerializer.Serialize(new
            {
                world_size = collective.WorldSize,
                stage = (int)stage,
                model = $"MLP {Inputs}-{Hidden}-{Classes}, ReLU, cross-entropy, Adan",
                n_params = flat.Layout.ParameterNumel,
                samples_per_rank = batch,
                steps_per_block = steps,
                pairs,
                threads_per_rank = threads,
                ms_step_measure_on = Math.Round(Statistics.Median(on), 3),
                ms_step_measure_off = Math.Round(offMedian, 3),
                overhead_median = Math.Round(Statistics.Median(overheads), 5),
                overhead_min = Math.Round(overheads.Min(), 5),
                overhead_max = Math.Round(overheads.Max(), 5),
                local_pass_elements = localLength,
                ms_local_pass = Math.Round(passMs, 4),
                pass_share_of_step = Math.Round(passMs / offMedian, 5),
                estimator_steps = estimator.Steps,
            });
            Console.WriteLine(text);
            if (json is not null)
            {
                File.WriteAllText(json.FullName, text + "\n");
            }
        }
        return ExitCodes.Success;
    }
}
