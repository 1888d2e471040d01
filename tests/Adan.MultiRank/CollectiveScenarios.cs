using Adan.Sharded.Collectives;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.MultiRank;

/// <summary>
/// Every collective against values computed by hand; prints "collectives ok" per rank. Arguments: [BACKEND [DEVICE]],
/// BACKEND mpi (default) or nccl (NVIDIA's NCCL, or the stand-in ADAN_NCCL_LIBRARY names), DEVICE cpu (default) or cuda;
/// or a number, which caps the elements one MPI call carries so that small tensors take the chunked paths of tensors
/// beyond MPI's int count.
/// </summary>
internal static class CollectiveScenarios
{
    public static int Run(string[] args)
    {
        var maxCount = args.Length > 0 && int.TryParse(args[0], System.Globalization.CultureInfo.InvariantCulture, out var cap) ? cap : (int?)null;
        var backend = args.Length > 0 && maxCount is null ? args[0] : "mpi";
        var device = args.Length > 1 ? args[1] : "cpu";
        using ICollective c = backend switch
        {
            "mpi" => maxCount is { } max ? new MpiCollective { MaxCount = max } : new MpiCollective(),
            "nccl" => NewNccl(device),
            _ => throw new ArgumentException($"unknown backend {backend}; expected mpi or nccl"),
        };
        var previous = get_default_device();
        set_default_device(ToDevice(device, c.Rank));
        try
        {
            RunChecks(c);
        }
        finally
        {
            set_default_device(previous);
        }
        Console.WriteLine(maxCount is { } most ? $"rank {c.Rank}: collectives ok (at most {most} per MPI call)" : $"rank {c.Rank}: collectives ok");
        return 0;
    }

    private static NcclCollective NewNccl(string device)
    {
        var control = new MpiCollective();
        return new NcclCollective(control, ToDevice(device, control.Rank));
    }

    /// <summary>"cuda" means one GPU per rank, chosen by the rank on this host.</summary>
    private static Device ToDevice(string device, int rank) =>
        device == "cuda" ? new Device(DeviceType.CUDA, rank % Math.Max(1, cuda.device_count())) : CPU;

    private static void RunChecks(ICollective c)
    {
        int r = c.Rank, w = c.WorldSize;

        using var sum = arange(6, dtype: float32) + r;
        c.AllReduce(sum);
        Check.Equal(Enumerable.Range(0, 6).Select(i => (float)(w * i + w * (w - 1) / 2)).ToArray(), sum.cpu().data<float>().ToArray(), "AllReduce sum");

        using var avg = full(5, (float)(r + 1));
        c.AllReduce(avg, ReduceOp.Average);
        Check.Equal(Enumerable.Repeat((w + 1) / 2f, 5).ToArray(), avg.cpu().data<float>().ToArray(), "AllReduce average");

        using var max = tensor(new long[] { r, -r });
        c.AllReduce(max, ReduceOp.Max);
        Check.That(max[0].item<long>() == w - 1 && max[1].item<long>() == 0, "AllReduce max on int64");

        using var a1 = full(1000, (float)r);
        using var a2 = full(7, 1.0, dtype: float64);
        var q1 = c.AllReduceAsync(a1, ReduceOp.Sum);
        var q2 = c.AllReduceAsync(a2, ReduceOp.Average);
        q1.Wait();
        q2.Wait();
        Check.That(a1.eq(w * (w - 1) / 2f).all().item<bool>(), "AllReduceAsync sum");
        Check.That(a2.eq(1.0).all().item<bool>(), "AllReduceAsync average on float64");

        // Reduce-scatter: input block b on rank r holds b*10 + r; the reduced block b is W*b*10 + W(W-1)/2.
        const int s = 3;
        using var input = arange(w * s, dtype: float32).div(s).floor().mul(10).add(r);
        using var output = empty(s);
        c.ReduceScatter(input, output);
        Check.That(output.eq(w * r * 10f + w * (w - 1) / 2f).all().item<bool>(), $"ReduceScatter out of place: {string.Join(",", output.cpu().data<float>().ToArray())}");
        using var ownBlock = input.narrow(0, r * s, s);
        c.ReduceScatter(input, ownBlock, ReduceOp.Average);
        Check.That(ownBlock.eq(r * 10f + (w - 1) / 2f).all().item<bool>(), $"ReduceScatter in place: {string.Join(",", ownBlock.cpu().data<float>().ToArray())}");

        // Reduce-scatter with a count per rank: rank q gets q+1 elements, except rank 0 gets none when W > 1 (a zero count);
        // element i on rank r holds i + r, and rank q's block is reduced in place.
        var unevenCounts = Enumerable.Range(0, w).Select(q => w > 1 && q == 0 ? 0 : q + 1).ToArray();
        using var uneven = arange(unevenCounts.Sum(), dtype: float32).add(r);
        c.ReduceScatterAsync(uneven, unevenCounts).Wait();
        var own = unevenCounts.Take(r).Sum();
        using var ownUneven = uneven.narrow(0, own, unevenCounts[r]);
        Check.Equal(Enumerable.Range(own, unevenCounts[r]).Select(i => (float)(w * i + w * (w - 1) / 2)).ToArray(), ownUneven.cpu().data<float>().ToArray(),
            "ReduceScatterAsync with a count per rank");

        using var gathered = zeros(w * s);
        using var mine = full(s, (float)r);
        c.AllGather(mine, gathered);
        Check.Equal(Enumerable.Range(0, w * s).Select(i => (float)(i / s)).ToArray(), gathered.cpu().data<float>().ToArray(), "AllGather out of place");
        using var inPlace = full(w * s, -1f);
        using var slot = inPlace.narrow(0, r * s, s);
        slot.fill_(r * 2f);
        c.AllGather(slot, inPlace);
        Check.Equal(Enumerable.Range(0, w * s).Select(i => (float)(i / s * 2)).ToArray(), inPlace.cpu().data<float>().ToArray(), "AllGather in place");

        // bf16, as bf16-mixed moves gradients and parameters: the sums here are small integers, exact in bf16.
        using var bfInput = arange(w * s, dtype: float32).div(s).floor().mul(10).add(r).to(bfloat16);
        using var bfBlock = bfInput.narrow(0, r * s, s);
        c.ReduceScatter(bfInput, bfBlock);
        Check.That(bfBlock.to(float32).eq(w * r * 10f + w * (w - 1) / 2f).all().item<bool>(), "ReduceScatter of bf16 in place");
        using var bfUneven = arange(unevenCounts.Sum(), dtype: float32).add(r).to(bfloat16);
        c.ReduceScatterAsync(bfUneven, unevenCounts).Wait();
        using var bfOwnUneven = bfUneven.narrow(0, own, unevenCounts[r]).to(float32);
        Check.Equal(Enumerable.Range(own, unevenCounts[r]).Select(i => (float)(w * i + w * (w - 1) / 2)).ToArray(), bfOwnUneven.cpu().data<float>().ToArray(),
            "ReduceScatterAsync of bf16 with a count per rank");
        using var bfOnes = ones(5, dtype: bfloat16);
        c.AllReduceAsync(bfOnes).Wait();
        Check.That(bfOnes.to(float32).eq(w).all().item<bool>(), "AllReduceAsync of bf16");
        using var bfGathered = zeros(w * s, dtype: bfloat16);
        using var bfSlot = bfGathered.narrow(0, r * s, s);
        bfSlot.fill_(r + 0.5f);
        c.AllGather(bfSlot, bfGathered);
        using var bfGatheredFloat = bfGathered.to(float32);
        Check.Equal(Enumerable.Range(0, w * s).Select(i => i / s + 0.5f).ToArray(), bfGatheredFloat.cpu().data<float>().ToArray(), "AllGather of bf16 in place");

        using var b = r == w - 1 ? tensor(new byte[] { 1, 2, 3 }) : zeros(3, dtype: uint8);
        c.Broadcast(b, root: w - 1);
        Check.That(b.cpu().data<byte>().ToArray().SequenceEqual(new byte[] { 1, 2, 3 }), "Broadcast of uint8 from the last rank");

        c.Barrier();
        Check.That(c.AllReduce(r + 0.5, ReduceOp.Max) == w - 0.5, "scalar AllReduce max");

        // The sleeping barrier holds every rank until the last arrives: the last rank arrives late, after writing a
        // file every rank must then see.
        var marker = Path.Combine(Path.GetTempPath(), $"adan-sleeping-barrier-{Environment.GetEnvironmentVariable("PMI_JOBID") ?? "job"}-{c.AllReduce((double)Environment.ProcessId, ReduceOp.Max)}");
        if (r == w - 1)
        {
            Thread.Sleep(300);
            File.WriteAllText(marker, "arrived");
        }
        c.SleepingBarrier();
        Check.That(File.Exists(marker), "SleepingBarrier returned before the last rank arrived");
        c.Barrier();
        if (r == w - 1)
        {
            File.Delete(marker);
        }
        Span<long> counts = [1, r];
        c.AllReduce(counts);
        Check.That(counts[0] == w && counts[1] == w * (w - 1) / 2, "AllReduce of longs");

        using var strided = zeros(4, 4).t();
        var e1 = Check.Throws<ArgumentException>(() => c.AllReduce(strided), "non-contiguous");
        Check.That(e1.Message.Contains("not contiguous"), e1.Message);
        using var half = zeros(4, dtype: float16);
        var e2 = Check.Throws<ArgumentException>(() => c.AllReduce(half), "float16");
        Check.That(e2.Message.Contains("Float16"), e2.Message);
        using var wrong = zeros(w * 2 + 1);
        using var small = zeros(2);
        var e3 = Check.Throws<ArgumentException>(() => c.ReduceScatter(wrong, small), "uneven reduce-scatter");
        Check.That(e3.Message.Contains("multiple of the world size"), e3.Message);
    }
}
