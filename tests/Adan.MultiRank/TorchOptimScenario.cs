using System.Text.Json;
using Adan.Sharded.Collectives;
using Adan.Sharded.Zero;
using static TorchSharp.torch;

namespace Adan.MultiRank;

/// <summary>
/// Runs every <see cref="TorchOptimProblem"/> case (AdamW and SGD) with <see cref="ShardedOptimizer"/> on W ranks, for
/// ZeRO stages 0, 1, 2 and both updates (fused kernel, tensor operations): one launch covers them all. Rank 0 runs
/// TorchSharp's reference itself (it is cheap) and writes each run's <see cref="OptimDifferences"/> to OUTPUT as JSON.
/// Arguments: OUTPUT.
/// </summary>
internal static class TorchOptimScenario
{
    public static int Run(string[] args)
    {
        set_num_threads(1);
        using ICollective c = new MpiCollective();
        var results = new List<OptimDifferences>();
        foreach (var optimCase in TorchOptimProblem.Cases)
        {
            var reference = c.Rank == 0 ? TorchOptimProblem.Reference(optimCase) : null;
            foreach (var stage in new[] { ZeroStage.Replicated, ZeroStage.OptimizerState, ZeroStage.Gradients })
            {
                foreach (var kernel in new[] { UpdateKernel.Fused, UpdateKernel.Reference })
                {
                    var actual = TorchOptimProblem.Sharded(optimCase, c, stage, kernel);
                    if (reference is not null)
                    {
                        results.Add(TorchOptimProblem.Compare(optimCase, stage, kernel, reference, actual));
                    }
                }
            }
        }
        if (c.Rank == 0)
        {
            File.WriteAllText(args[0], JsonSerializer.Serialize(results));
        }
        Console.WriteLine($"rank {c.Rank} of {c.WorldSize}: {TorchOptimProblem.Cases.Count} cases × 3 stages × 2 kernels");
        return 0;
    }
}
