using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using Adan.Sharded.Mpi;
using Adan.Sharded.Tensors;
using Adan.Sharded.Threading;
using TorchSharp;
using TorchSharp.Modules;

namespace Adan.Worker.Commands.Bench;

/// <summary>
/// <c>adan bench allreduce --mib M --json FILE</c> (under mpiexec.mpich): our bucketed gradient
/// synchronisation against one plain blocking <c>MPI_Allreduce</c> of the same buffer, timed
/// alternately in the same run. Rank 0 writes the JSON.
/// </summary>
internal static class AllReduceBench
{
    public static Command Create()
    {
        var mib = new Option<int>("--mib") { Description = "Gradient buffer size in MiB", DefaultValueFactory = _ => 16 };
        var json = new Option<FileInfo?>("--json") { Description = "Write the result as JSON to this file (rank 0)" };
        var iterations = new Option<int>("--iterations") { Description = "Timed repetitions of each variant (0 = choose by size)", DefaultValueFactory = _ => 0 };
        var bucketMib = new Option<double>("--bucket-mib") { Description = "Bucket size in MiB", DefaultValueFactory = _ => GradientBuckets.DefaultBucketBytes / 1048576.0 };
        var inFlight = new Option<int>("--buckets-in-flight") { Description = "Bucket all-reduces outstanding at once", DefaultValueFactory = _ => GradientSync.DefaultMaxBucketsInFlight };
        var collective = new Option<string>("--collective") { Description = "mpi (CPU memory) or nccl (GPU memory, one GPU per rank of the host)", DefaultValueFactory = _ => "mpi" };
        collective.AcceptOnlyFromAmong("mpi", "nccl");
        var command = new Command("allreduce", "Gradient synchronisation vs raw MPI_Allreduce, or NCCL's bus bandwidth on GPUs (run under mpiexec.mpich -n W)")
        {
            mib, json, iterations, bucketMib, inFlight, collective,
        };
        command.SetAction(r => r.GetValue(collective) == "nccl"
            ? RunNccl(r.GetValue(mib), r.GetValue(json), r.GetValue(iterations))
            : Run(r.GetValue(mib), r.GetValue(json), r.GetValue(iterations), r.GetValue(bucketMib), r.GetValue(inFlight)));
        return command;
    }

    /// <summary>
    /// On GPUs: ncclAllReduce of the buffer (bus bandwidth as nccl-tests defines it, 2(W−1)/W × bytes / time) and, for
    /// scale, a device-to-device copy of the same buffer (bytes read + written / time).
    /// </summary>
    private static int RunNccl(int mib, FileInfo? json, int iterations)
    {
        if (mib < 1)
        {
            throw new UsageException($"--mib ({mib}) must be ≥ 1");
        }
        var runtime = MpiRuntime.Initialize();
        var device = new torch.Device(DeviceType.CUDA, runtime.LocalRank);
        using var collective = new NcclCollective(new MpiCollective(), device);
        var elements = (long)mib * 1024 * 1024 / sizeof(float);
        using var buffer = torch.ones(elements, device: device);
        using var copy = torch.empty(elements, device: device);
        iterations = iterations > 0 ? iterations : 50;
        var reduceTimes = new List<double>();
        var copyTimes = new List<double>();
        for (var i = -3; i < iterations; i++)
        {
            var reduce = Time(collective, () =>
            {
                collective.AllReduce(buffer, ReduceOp.Average);
                torch.cuda.synchronize(device);
            });
            var copied = Time(collective, () =>
            {
                copy.copy_(buffer);
                torch.cuda.synchronize(device);
            });
            if (i >= 0)
            {
                reduceTimes.Add(reduce);
                copyTimes.Add(copied);
            }
        }
        var bytes = elements * (double)sizeof(float);
        var w = collective.WorldSize;
        var busGbps = bytes * 2 * (w - 1) / w / Statistics.Median(reduceTimes) / 1e9;
        var copyGbps = 2 * bytes / Statistics.Median(copyTimes) / 1e9;
        if (collective.Rank == 0)
        {
            var text = JsonSerializer.Serialize(new
            {
                mib, ranks = w, collective = "nccl", library = collective.LibraryDescription, allreduce_ms = Math.Round(Statistics.Median(reduceTimes) * 1e3, 3),
                bus_gbps = Math.Round(busGbps, 3), device_copy_gbps = Math.Round(copyGbps, 3), iterations,
            });
            Console.WriteLine(text);
            if (json is not null)
            {
                File.WriteAllText(json.FullName, text + "\n");
            }
        }
        return ExitCodes.Success;
    }

    private static int Run(int mib, FileInfo? json, int iterations, double bucketMib, int inFlight)
    {
        if (mib < 1 || inFlight < 1)
        {
            throw new UsageException($"--mib ({mib}) and --buckets-in-flight ({inFlight}) must be ≥ 1");
        }
        NativeThreadDefaults.Apply(1);
        ComputeThread.Bind(1);
        using var collective = new MpiCollective();
        var elements = (long)mib * 1024 * 1024 / sizeof(float);
        using var parameter = new Parameter(torch.zeros(elements - elements % (16L * collective.WorldSize)));
        using var flat = new FlatParameters([("gradients", parameter)], collective.WorldSize);
        using var sync = new GradientSync(flat, collective, GradientReduction.AllReduce, (long)(bucketMib * 1048576)) { MaxBucketsInFlight = inFlight };
        using var raw = torch.ones(flat.Layout.TotalNumel);
        flat.ZeroGrad();
        flat.Gradients!.fill_(1f);
        iterations = iterations > 0 ? iterations : Math.Clamp(2048 / mib, 5, 200);

        var rawTimes = new List<double>();
        var ourTimes = new List<double>();
        Action rawAllReduce = () => MpiRuntime.Check(MPI.Unsafe.MPI_Allreduce(MpiNative.InPlace, TensorMemory.DataPointer(raw),
            (int)raw.numel(), MpiNative.Float, MpiNative.OpSum, MpiNative.CommWorld), "MPI_Allreduce", collective.Rank);
        Action ourSync = () => sync.Synchronize();
        for (var i = -2; i < iterations; i++)
        {
            // Alternate which variant goes first, so neither always finds the caches warmed by the other.
            var rawFirst = i % 2 == 0;
            var first = Time(collective, rawFirst ? rawAllReduce : ourSync);
            var second = Time(collective, rawFirst ? ourSync : rawAllReduce);
            if (i >= 0)
            {
                rawTimes.Add(rawFirst ? first : second);
                ourTimes.Add(rawFirst ? second : first);
            }
            // Keep values bounded: a sum of ones over W ranks grows by W each round.
            raw.fill_(1f);
            flat.Gradients.fill_(1f);
        }
        var bytes = flat.Layout.TotalNumel * (double)sizeof(float);
        var rawGbps = bytes / Statistics.Median(rawTimes) / 1e9;
        var ourGbps = bytes / Statistics.Median(ourTimes) / 1e9;
        if (collective.Rank == 0)
        {
            var result = new { mib, ranks = collective.WorldSize, ours_gbps = Math.Round(ourGbps, 3), raw_mpi_gbps = Math.Round(rawGbps, 3),
                ratio = Math.Round(ourGbps / rawGbps, 3), buckets = sync.Buckets.Count, buckets_in_flight = inFlight, iterations };
            var text = JsonSerializer.Serialize(result);
            Console.WriteLine(text);
            if (json is not null)
            {
                File.WriteAllText(json.FullName, text + "\n");
            }
        }
        return ExitCodes.Success;
    }

    private static double Time(ICollective collective, Action action)
    {
        collective.Barrier();
        var watch = Stopwatch.StartNew();
        action();
        return collective.AllReduce(watch.Elapsed.TotalSeconds, ReduceOp.Max);
    }
}
