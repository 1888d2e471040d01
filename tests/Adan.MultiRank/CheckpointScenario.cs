using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Sampling;
using Adan.Sharded.Zero;
using static TorchSharp.torch;

namespace Adan.MultiRank;

/// <summary>
/// Trains the MLP of <see cref="MlpProblem"/> with <see cref="ShardedOptimizer"/> on W ranks up to STEPS, saving a sharded
/// checkpoint under ROOT after each step listed in SAVES, or first resuming from ROOT's latest checkpoint. Rank 0
/// writes the first step run, the losses from there and the final parameters to OUTPUT. With CRASH_AT, rank 1 kills
/// itself halfway through writing its shard of that step (fault injection through <see cref="ICheckpointFaults"/>; -1:
/// none). With ASYNC 1 the saves go through <see cref="BackgroundCheckpointWriter"/> as the trainer's do: a poll after
/// every step, a save started at each listed step, the last one completed after training. With STAGED 1 every save
/// and load passes through a <see cref="HostStaging"/> as a GPU run's do, forced here on CPU tensors.
/// OPTIMIZER picks the rule (adan by default; <see cref="MlpProblem.Options(string)"/>), and OUTPUT holds its whole state.
/// STATE picks the optimizer_state mode (fp32 by default); a low-precision mode trains <see cref="MlpProblem.WideModel"/>,
/// whose weights are large enough to be quantised, and OUTPUT holds its state decoded to fp32.
/// Arguments: STAGE STEPS ROOT SAVES(comma list or -) RESUME(0|1) OUTPUT [CRASH_AT [ASYNC(0|1) [STAGED(0|1) [OPTIMIZER [STATE]]]]].
/// </summary>
internal static class CheckpointScenario
{
    public const string ModelName = "mlp-10-33-5";

    public static int Run(string[] args)
    {
        var stage = (ZeroStage)int.Parse(args[0], CultureInfo.InvariantCulture);
        var steps = int.Parse(args[1], CultureInfo.InvariantCulture);
        var root = args[2];
        var saves = args[3] == "-" ? [] : args[3].Split(',').Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToHashSet();
        var resume = args[4] == "1";
        var crashAt = args.Length > 6 ? long.Parse(args[6], CultureInfo.InvariantCulture) : -1;
        var background = args.Length > 7 && args[7] == "1";
        var staged = args.Length > 8 && args[8] == "1";
        var optimizer = args.Length > 9 ? args[9] : "adan";
        var mode = args.Length > 10 ? OptimizerStateModes.Parse(args[10]) : OptimizerStateMode.Fp32;
        set_num_threads(1);
        using var c = new MpiCollective();
        using var model = mode == OptimizerStateMode.Fp32 ? MlpProblem.Model() : MlpProblem.WideModel();
        using var flat = FlatParameters.FromModule(model, c.WorldSize, mode.Alignment());
        using var adan = ShardedOptimizers.Create(flat, c, MlpProblem.Options(optimizer), stage: stage, stateMode: mode, stateSeed: 7);
        using var staging = staged ? new HostStaging(adan, c.Rank) : null;
        var catalog = new LocalCheckpointCatalog(root);
        var fault = new KillRankHalfway(1) { Armed = !background };
        using var writer = background ? new BackgroundCheckpointWriter(catalog, c, adan, fault, staging) : null;
        var local = MlpProblem.GlobalBatch / c.WorldSize;

        long start = 0;
        if (resume)
        {
            var manifest = ShardedCheckpoint.Load(root, adan, c, staging);
            start = manifest.Step;
            var progress = manifest.Progress;
            Check.That(progress.Sampler == new SamplerPosition(0, start) && progress.LearningRateStep == start,
                $"sampler {progress.Sampler} / LR step {progress.LearningRateStep} do not match step {start}");
            Check.That(progress.RngSeeds["data"] == 5000 && progress.Extra?["model"]?.GetValue<string>() == ModelName,
                $"seeds or extra lost: {JsonSerializer.Serialize(progress.RngSeeds)} {progress.Extra?.ToJsonString()}");
        }
        var losses = new List<double>();
        for (var step = start; step < steps; step++)
        {
            using (var scope = NewDisposeScope())
            {
                var (x, y) = MlpProblem.Batch((int)step);
                flat.ZeroGrad();
                var loss = MlpProblem.Loss(model, x.narrow(0, c.Rank * local, local), y.narrow(0, c.Rank * local, local));
                loss.backward();
                losses.Add(c.AllReduce(loss.item<float>(), ReduceOp.Average));
                Check.That(adan.Step(), "a finite step was skipped");
            }
            writer?.PollAsync().GetAwaiter().GetResult();
            if (saves.Contains(step + 1))
            {
                var progress = new TrainingProgress(step + 1, new SamplerPosition(0, step + 1),
                    new Dictionary<string, long> { ["torch"] = 11, ["data"] = 5000 }, new JsonObject { ["model"] = ModelName });
                if (writer is null)
                {
                    new CheckpointWriter(catalog, c, step + 1 == crashAt ? fault : null, staging).SaveAsync(adan, step + 1, progress).GetAwaiter().GetResult();
                }
                else
                {
                    if (step + 1 == crashAt)
                    {
                        // Armed only once the previous save is written, so the victim dies inside this step's background write.
                        writer.CompleteAsync().GetAwaiter().GetResult();
                        fault.Armed = true;
                    }
                    writer.StartAsync(step + 1, progress).GetAwaiter().GetResult();
                }
            }
        }
        writer?.CompleteAsync().GetAwaiter().GetResult();
        if (c.Rank == 0)
        {
            File.WriteAllText(args[5], JsonSerializer.Serialize(new
            {
                start,
                losses,
                @params = flat.Parameters.SelectMany(p => p.data<float>().ToArray()).ToArray(),
                state = adan.StateNames.SelectMany(n => adan.GatherState(n).data<float>().ToArray()).ToArray(),
            }));
        }
        else
        {
            foreach (var name in adan.StateNames)
            {
                _ = adan.GatherState(name);
            }
        }
        return 0;
    }

    /// <summary>Kills <paramref name="victim"/> once half of its shard file is written, in the saves made while armed.</summary>
    private sealed class KillRankHalfway(int victim) : ICheckpointFaults
    {
        /// <summary>The synchronous writer gets the fault only for the crash step; the background one holds it throughout.</summary>
        public bool Armed { get; set; }

        public long? KillAfterBytes(int rank, long shardBytes) => rank == victim && Armed ? shardBytes / 2 : null;
    }
}
