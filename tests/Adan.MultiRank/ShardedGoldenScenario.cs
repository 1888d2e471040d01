using System.Text.Json;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Optim;
using Adan.Sharded.Zero;
using Adan.Sharded.Zero.Rules;
using Adan.TestSupport;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.MultiRank;

/// <summary>
/// Replays one golden case with <see cref="ShardedOptimizer"/> on W ranks. Rank r's gradient is the
/// golden gradient × 2(r+1)/(W+1), so the rank average is the golden gradient. The layout uses
/// alignment 1, so parameters straddle shard boundaries and W need not divide N. Rank 0 writes the
/// parameters after every step and the gathered final state to OUTPUT as JSON.
/// Arguments: GOLDEN_FILE STAGE OUTPUT [BACKEND [KERNEL]]: BACKEND mpi (default) or nccl (over ADAN_NCCL_LIBRARY, CPU
/// memory), KERNEL auto (default) or reference (the tensor-op update the GPU path runs).
/// </summary>
internal static class ShardedGoldenScenario
{
    public static int Run(string[] args)
    {
        var golden = GoldenCase.Load(args[0]);
        var stage = (ZeroStage)int.Parse(args[1]);
        var backend = args.Length > 3 ? args[3] : "mpi";
        var kernel = args.Length > 4 && args[4] == "reference" ? UpdateKernel.Reference : UpdateKernel.Auto;
        using ICollective c = backend == "nccl" ? new NcclCollective(new MpiCollective(), CPU) : new MpiCollective();
        var parameters = golden.Params.Select(p => (p.Name, new Parameter(tensor(p.Init, p.Shape)))).ToList();
        using var flat = new FlatParameters(parameters, c.WorldSize, alignment: 1, trackUnusedParameters: true);
        var groups = golden.Groups.Select(g => (new AdanGroupOptions
        {
            LearningRate = g.Lr, Beta1 = g.Beta1, Beta2 = g.Beta2, Beta3 = g.Beta3, Eps = g.Eps, WeightDecay = g.WeightDecay, NoProx = g.NoProx,
        }, g.Params));
        using var adan = ShardedOptimizers.Create(flat, c, groups, golden.MaxGradNorm, stage, kernel: kernel);
        var factor = 2.0f * (c.Rank + 1) / (c.WorldSize + 1);

        var trajectory = new List<float[][]>();
        foreach (var step in golden.Steps)
        {
            if (step.Restart)
            {
                adan.Restart();
            }
            if (step.Lr is { } lrs)
            {
                for (var g = 0; g < lrs.Length; g++)
                {
                    adan.Groups[g].Options.LearningRate = lrs[g];
                }
            }
            flat.ZeroGrad();
            for (var i = 0; i < parameters.Count; i++)
            {
                if (step.Grads[i] is { } grad)
                {
                    flat.Parameters[i].grad = tensor(grad, golden.Params[i].Shape).mul_(factor);
                }
            }
            Check.That(adan.Step(), "a finite step was skipped");
            trajectory.Add(flat.Parameters.Select(p => p.data<float>().ToArray()).ToArray());
        }

        var state = AdanRule.Names.ToDictionary(n => n, n => adan.GatherState(n).data<float>().ToArray());
        if (c.Rank == 0)
        {
            var finalState = flat.Layout.Entries.Select((e, i) => adan.HasHadGradient[i]
                ? AdanRule.Names.ToDictionary(n => n, n => state[n].AsSpan((int)e.Offset, (int)e.Numel).ToArray())
                : null).ToArray();
            var groupOf = golden.Groups.SelectMany((g, gi) => g.Params.Select(p => (p, gi))).ToDictionary(x => x.p, x => x.gi);
            var steps = flat.Layout.Entries.Select((_, i) => adan.Groups[groupOf[i]].Step).ToArray();
            File.WriteAllText(args[2], JsonSerializer.Serialize(new { params_after = trajectory, final_state = finalState, steps,
                state_bytes = adan.StateBytes, state_length = adan.StateLength }));
        }
        Console.WriteLine($"rank {c.Rank}: {backend}, {adan.Kernel} kernel, state {adan.StateBytes} bytes for {adan.StateLength} elements, padding {adan.PaddingInState}");
        return 0;
    }
}
