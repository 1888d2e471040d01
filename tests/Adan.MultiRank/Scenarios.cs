using Adan.Sharded.Mpi;
using Adan.Sharded.Tensors;
using TorchSharp;

namespace Adan.MultiRank;

internal static class Scenarios
{
    private static readonly Dictionary<string, Func<string[], int>> s_scenarios = new()
    {
        ["raw-allreduce"] = RawAllReduce,
        ["collectives"] = CollectiveScenarios.Run,
        ["nccl-id-mismatch"] = NcclIdMismatchScenario.Run,
        ["ddp-mlp"] = DataParallelScenarios.TrainMlp,
        ["sharded-golden"] = ShardedGoldenScenario.Run,
        ["sharded-lamb-golden"] = ShardedLambGoldenScenario.Run,
        ["sharded-torch-optim"] = TorchOptimScenario.Run,
        ["lamb-straddle"] = LambStraddleScenario.Run,
        ["sharded-mlp"] = ShardedMlpScenario.Run,
        ["checkpoint-mlp"] = CheckpointScenario.Run,
        ["abort"] = AbortScenario.Run,
        ["overlap"] = OverlapScenario.Run,
        ["zero2-release"] = GradientReleaseScenario.Run,
        ["noise-scale"] = NoiseScaleScenario.Run,
        ["mixed-precision"] = MixedPrecisionScenario.Run,
    };

    public static int Run(string[] args)
    {
        if (args.Length == 0 || !s_scenarios.TryGetValue(args[0], out var scenario))
        {
            Console.Error.WriteLine($"usage: Adan.MultiRank SCENARIO [ARGS]; scenarios: {string.Join(", ", s_scenarios.Keys)}");
            return 2;
        }
        try
        {
            // As the trainer's default (onednn=false): oneDNN's convolution backward is wrong on some CPUs (AMD Zen 5).
            OneDnn.Enabled = false;
            return scenario(args[1..]);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"{args[0]} failed: {e}");
            return 1;
        }
    }

    private static int RawAllReduce(string[] args)
    {
        using var mpi = MpiRuntime.Initialize();
        using var t = torch.arange(1, 5, dtype: torch.float32) * (mpi.Rank + 1);
        MpiRuntime.Check(MPI.Unsafe.MPI_Allreduce(MpiNative.InPlace, TensorMemory.DataPointer(t), 4, MpiNative.Float,
            MpiNative.OpSum, MpiNative.CommWorld), "MPI_Allreduce", mpi.Rank);
        Console.WriteLine($"rank {mpi.Rank} of {mpi.Size}: {string.Join(",", t.data<float>().ToArray())}");
        return 0;
    }
}
