using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Mpi;
using Adan.Sharded.Tensors;
using Adan.Sharded.Threading;
using Adan.Sharded.Zero;
using Adan.Sharded.Zero.Rules;
using TorchSharp;
using TorchSharp.Modules;

namespace Adan.Worker.Commands.Bench;

/// <summary>
/// <c>mpiexec.mpich -n W adan bench checkpoint --mib 256 --json FILE</c>: sharded checkpoint save and load throughput
/// for MiB of state (parameters + Adan's four buffers, all ranks together) next to a plain sequential write + fsync
/// and a plain sequential read of the same bytes by the same ranks, alternated in one run so that both see the same
/// disk conditions. Saves are background saves (<see cref="BackgroundCheckpointWriter"/>): <c>pause_ms</c> is how long
/// one blocks training (the staging copy), <c>memcpy_ms</c> a plain copy of the same bytes into memory already touched,
/// and <c>save_vs_plain_write</c> compares the background part of a save (from the end of the pause to the commit)
/// with the plain write + fsync; <c>save_gbps</c> is of the whole save.
/// </summary>
/// <remarks>
/// Both reads are cold, as a restore after a restart is: shards are written with direct I/O and never enter the page
/// cache, and the plain file's pages are dropped after its fsync, so neither read is a copy out of memory.
/// </remarks>
internal static partial class CheckpointBench
{
    private const int ChunkBytes = 8 << 20;

    public static Command Create()
    {
        var mib = new Option<int>("--mib") { Description = "MiB of state over all ranks (parameters + 4 buffers)", DefaultValueFactory = _ => 256 };
        var repeats = new Option<int>("--repeats") { Description = "Timed rounds of each operation", DefaultValueFactory = _ => 5 };
        var dir = new Option<DirectoryInfo?>("--dir") { Description = "Scratch directory on the disk to measure (default: the temp directory)" };
        var json = new Option<FileInfo?>("--json") { Description = "Write the record to this file (rank 0)" };
        var command = new Command("checkpoint", "Checkpoint save/load throughput against a plain write + fsync (run under mpiexec.mpich -n W)") { mib, repeats, dir, json };
        command.SetAction(r => Run(r.GetValue(mib), r.GetValue(repeats), r.GetValue(dir), r.GetValue(json)));
        return command;
    }

    private static int Run(int mib, int repeats, DirectoryInfo? dir, FileInfo? json)
    {
        if (mib < 1 || repeats < 1)
        {
            throw new UsageException($"--mib ({mib}) and --repeats ({repeats}) must be ≥ 1");
        }
        var threads = HostThreads.PerRank();
        NativeThreadDefaults.Apply(threads);
        ComputeThread.Bind(threads);
        using var collective = new MpiCollective();
        var root = Path.Combine(dir?.FullName ?? Path.GetTempPath(), "adan-bench-checkpoint");
        if (collective.Rank == 0)
        {
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
            Directory.CreateDirectory(root);
        }
        collective.Barrier();

        torch.manual_seed(1 + collective.Rank);
        var n = (long)mib * (1 << 20) / (5 * sizeof(float));
        using var parameter = new Parameter(torch.randn(n));
        using var flat = new FlatParameters([("weights", parameter)], collective.WorldSize);
        using var adan = ShardedOptimizers.Create(flat, collective, new AdanGroupOptions());
        foreach (var name in AdanRule.Names)
        {
            adan.StateBuffer(name).normal_();
        }
        using var catalog = new LocalCheckpointCatalog(root, keepLast: 1);
        using var writer = new BackgroundCheckpointWriter(catalog, collective, adan);
        var copyTarget = new byte[writer.StagingBytes];
        Array.Fill(copyTarget, (byte)1);
        var shardBytes = 5 * flat.Layout.ShardSize * sizeof(float);
        var totalBytes = (double)shardBytes * collective.WorldSize;
        var progress = new TrainingProgress(0, default, new Dictionary<string, long>());

        var plainWrite = new List<double>();
        var save = new List<double>();
        var pause = new List<double>();
        var memcpy = new List<double>();
        var plainRead = new List<double>();
        var load = new List<double>();
        for (var i = 0; i < repeats + 1; i++)
        {
            // Alternate which goes first so neither always meets the other's dirty pages.
            var step = i + 1L;
            // A new file each round, as every checkpoint is: block allocation is part of both costs.
            var plainPath = Path.Combine(root, $"plain-{step:D4}-{collective.Rank:D5}.bin");
            double PlainWrite() => Time(collective, () => WritePlain(plainPath, flat, adan));
            double Save()
            {
                double paused = 0;
                var seconds = Time(collective, () =>
                {
                    var start = Stopwatch.GetTimestamp();
                    writer.StartAsync(step, progress).GetAwaiter().GetResult();
                    paused = Stopwatch.GetElapsedTime(start).TotalSeconds;
                    writer.CompleteAsync().GetAwaiter().GetResult();
                });
                pause.Add(collective.AllReduce(paused, ReduceOp.Max));
                // Retention deletes the previous checkpoint in the background; keep that out of the next timed operation.
                catalog.WhenRetentionDone().GetAwaiter().GetResult();
                return seconds;
            }
            double PlainRead() => Time(collective, () => ReadPlain(plainPath, flat, adan));
            double Load() => Time(collective, () => ShardedCheckpoint.Load(root, adan, collective));
            double w, s, rd, ld;
            if (i % 2 == 0)
            {
                w = PlainWrite();
                s = Save();
                rd = PlainRead();
                ld = Load();
            }
            else
            {
                s = Save();
                w = PlainWrite();
                ld = Load();
                rd = PlainRead();
            }
            File.Delete(plainPath);
            var copied = Time(collective, () => Copy(flat, adan, copyTarget));
            if (i > 0)
            {
                memcpy.Add(copied);
                plainWrite.Add(w);
                save.Add(s);
                plainRead.Add(rd);
                load.Add(ld);
            }
        }
        if (collective.Rank == 0)
        {
            double Gbps(List<double> seconds) => Math.Round(totalBytes / Statistics.Median(seconds) / 1e9, 3);
            var text = JsonSerializer.Serialize(new
            {
                world_size = collective.WorldSize,
                state_mib = mib,
                bytes_total = (long)totalBytes,
                repeats,
                directory = root,
                plain_write_fsync_gbps = Gbps(plainWrite),
                save_gbps = Gbps(save),
                // The background part of a save: from the end of its pause to its commit.
                save_vs_plain_write = Math.Round(Statistics.Median(plainWrite) / Statistics.Median(save.Zip(pause.Skip(1), (s, p) => s - p).ToList()), 3),
                pause_ms = Math.Round(Statistics.Median(pause.Skip(1).ToList()) * 1e3, 2),
                memcpy_ms = Math.Round(Statistics.Median(memcpy) * 1e3, 2),
                pause_vs_memcpy = Math.Round(Statistics.Median(pause.Skip(1).ToList()) / Statistics.Median(memcpy), 3),
                plain_read_cold_gbps = Gbps(plainRead),
                load_gbps = Gbps(load),
                load_vs_plain_write = Math.Round(Statistics.Median(plainWrite) / Statistics.Median(load), 3),
                load_vs_plain_read = Math.Round(Statistics.Median(plainRead) / Statistics.Median(load), 3),
                save_seconds = save.Select(s => Math.Round(s, 4)),
                pause_seconds = pause.Skip(1).Select(s => Math.Round(s, 4)),
                memcpy_seconds = memcpy.Select(s => Math.Round(s, 4)),
                plain_write_seconds = plainWrite.Select(s => Math.Round(s, 4)),
                load_seconds = load.Select(s => Math.Round(s, 4)),
                plain_read_seconds = plainRead.Select(s => Math.Round(s, 4)),
            });
            Console.WriteLine(text);
            if (json is not null)
            {
                File.WriteAllText(json.FullName, text + "\n");
            }
        }
        collective.Barrier();
        if (collective.Rank == 0)
        {
            Directory.Delete(root, recursive: true);
        }
        return ExitCodes.Success;
    }

    /// <summary>Seconds of the slowest rank.</summary>
    private static double Time(ICollective collective, Action action)
    {
        collective.Barrier();
        var start = Stopwatch.GetTimestamp();
        action();
        return collective.AllReduce(Stopwatch.GetElapsedTime(start).TotalSeconds, ReduceOp.Max);
    }

    /// <summary>The same bytes a shard holds, from the same memory, in the same chunk size, then fsync: the baseline.</summary>
    private static unsafe void WritePlain(string path, FlatParameters flat, ShardedOptimizer adan)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        foreach (var tensor in Slices(flat, adan))
        {
            var p = (byte*)TensorMemory.DataPointer(tensor);
            var length = tensor.numel() * sizeof(float);
            for (long done = 0; done < length; done += ChunkBytes)
            {
                stream.Write(new ReadOnlySpan<byte>(p + done, (int)Math.Min(ChunkBytes, length - done)));
            }
            tensor.Dispose();
        }
        stream.Flush(flushToDisk: true);
        // The pages are clean after the fsync; dropping them makes the plain read come from the disk.
        if (OperatingSystem.IsLinux())
        {
            _ = PosixFadvise((int)stream.SafeFileHandle.DangerousGetHandle(), 0, 0, PosixFadviseDontNeed);
        }
    }

    /// <summary>The same bytes a shard holds, copied into memory already touched: what a staging copy cannot beat.</summary>
    private static unsafe void Copy(FlatParameters flat, ShardedOptimizer adan, byte[] target)
    {
        fixed (byte* start = target)
        {
            var p = start;
            foreach (var tensor in Slices(flat, adan))
            {
                var length = tensor.numel() * sizeof(float);
                Buffer.MemoryCopy((void*)TensorMemory.DataPointer(tensor), p, length, length);
                p += length;
                tensor.Dispose();
            }
        }
    }

    private const int PosixFadviseDontNeed = 4;

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int PosixFadvise(int fd, long offset, long length, int advice);

    private static unsafe void ReadPlain(string path, FlatParameters flat, ShardedOptimizer adan)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        foreach (var tensor in Slices(flat, adan))
        {
            var p = (byte*)TensorMemory.DataPointer(tensor);
            var length = tensor.numel() * sizeof(float);
            for (long done = 0; done < length;)
            {
                done += stream.Read(new Span<byte>(p + done, (int)Math.Min(ChunkBytes, length - done)));
            }
            tensor.Dispose();
        }
    }

    private static IEnumerable<torch.Tensor> Slices(FlatParameters flat, ShardedOptimizer adan)
    {
        yield return flat.Values.narrow(0, adan.StateStart, adan.StateLength);
        foreach (var name in AdanRule.Names)
        {
            yield return adan.StateBuffer(name).narrow(0, 0, adan.StateLength);
        }
    }
}
