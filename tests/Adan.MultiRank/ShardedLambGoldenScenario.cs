using System.Text.Json;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Optim;
using Adan.Sharded.Zero;
using Adan.Sharded.Zero.Rules;
using Adan.TestSupport;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.MultiRank;

/// <summary>
/// Replays one LAMB golden case with <see cref="ShardedOptimizer"/> on W ranks. Rank r's gradient is the
/// golden gradient × 2(r+1)/(W+1), so the rank average is the golden gradient. The layout uses
/// alignment 1, so parameters straddle shard boundaries. Rank 0 writes the parameters after every
/// step, the clip divisors and the gathered final state to OUTPUT as JSON.
/// Arguments: GOLDEN_FILE STAGE OUTPUT [BACKEND [KERNEL]]: BACKEND mpi (default) or nccl (over ADAN_NCCL_LIBRARY, CPU
/// memory), KERNEL auto (default) or reference (the tensor-op update the GPU path runs).
/// </summary>
internal static class ShardedLambGoldenScenario
{
    public static int Run(string[] args)
    {
        var golden = LambGoldenCase.Load(args[0]);
        var stage = (ZeroStage)int.Parse(args[1]);
        var backend = args.Length > 3 ? args[3] : "mpi";
        var kernel = args.Length > 4 && args[4] == "reference" ? UpdateKernel.Reference : UpdateKernel.Auto;
        using ICollective c = backend == "nccl" ? new NcclCollective(new MpiCollective(), CPU) : new MpiCollective();
        var parameters = golden.Params.Select(p => (p.Name, new Parameter(tensor(p.Init, p.Shape)))).ToList();
        using var flat = new FlatParameters(parameters, c.WorldSize, alignment: 1, trackUnusedParameters: true);
        var groups = golden.Groups.Select(g => (new LambGroupOptions
        {
            LearningRate = g.Lr, Beta1 = g.Beta1, Beta2 = g.Beta2, Eps = g.Eps, WeightDecay = g.WeightDecay, BiasCorrection = g.BiasCorrection,
            GradAveraging = g.GradAveraging, TrustClip = g.TrustClip, AlwaysAdapt = g.AlwaysAdapt,
        }, g.Params));
        using var lamb = ShardedOptimizers.Create(flat, c, groups, golden.MaxGradNorm ?? 0, stage, kernel: kernel);
        var factor = 2.0f * (c.Rank + 1) / (c.WorldSize + 1);

        var trajectory = new List<float[][]>();
        var divisors = new List<double>();
        foreach (var step in golden.Steps)
        {
            if (step.Lr is { } lrs)
            {
                for (var g = 0; g < lrs.Length; g++)
                {
                    lamb.Groups[g].Options.LearningRate = lrs[g];
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
            Check.That(lamb.Step(), "a finite step was skipped");
            trajectory.Add(flat.Parameters.Select(p => p.data<float>().ToArray()).ToArray());
            divisors.Add(1 / lamb.LastClipCoefficient);
        }

        var state = LambRule.Names.ToDictionary(n => n, n => lamb.GatherState(n).data<float>().ToArray());
        if (c.Rank == 0)
        {
            var finalState = flat.Layout.Entries.Select((e, i) => lamb.HasHadGradient[i]
                ? LambRule.Names.ToDictionary(n => n, n => state[n].AsSpan((int)e.Offset, (int)e.Numel).ToArray())
                : null).ToArray();
            var groupOf = golden.Groups.SelectMany((g, gi) => g.Params.Select(p => (p, gi))).ToDictionary(x => x.p, x => x.gi);
            var steps = flat.Layout.Entries.Select((_, i) => lamb.Groups[groupOf[i]].Step).ToArray();
            File.WriteAllText(args[2], JsonSerializer.Serialize(new { params_after = trajectory, clip_divisors = divisors, final_state = finalState,
                steps, state_bytes = lamb.StateBytes, state_length = lamb.StateLength }));
        }
        Console.WriteLine($"rank {c.Rank}: {backend}, {lamb.Kernel} kernel, LAMB state {lamb.StateBytes} bytes for {lamb.StateLength} elements");
        return 0;
    }
}
