using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Zero;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.MultiRank;

/// <summary>
/// One AdamW or SGD parity case: parameter groups with their options (the first group's type picks the optimizer),
/// clipping, learning-rate changes and missing gradients, over the four parameters of <see cref="TorchOptimProblem"/>.
/// </summary>
/// <param name="Name">The case's name in test output.</param>
/// <param name="Groups">Each group's options.</param>
/// <param name="GroupParameters">Each group's parameter indices.</param>
/// <param name="MaxGradNorm">clip_grad_norm_'s max_norm (0: no clipping).</param>
public sealed record TorchOptimCase(string Name, IGroupOptions[] Groups, int[][] GroupParameters, double MaxGradNorm = 0)
{
    /// <summary>Step (1-based) → each group's learning rate from that step on.</summary>
    public IReadOnlyDictionary<int, double[]> LearningRates { get; init; } = new Dictionary<int, double[]>();

    /// <summary>(step, parameter) pairs whose gradient is left null on every rank (and in the reference).</summary>
    public IReadOnlySet<(int Step, int Parameter)> Missing { get; init; } = new HashSet<(int, int)>();

    /// <summary>Step → factor on that step's gradients (a small one leaves the clip inactive).</summary>
    public IReadOnlyDictionary<int, float> GradientScales { get; init; } = new Dictionary<int, float>();

    /// <summary>Is it an SGD case (else AdamW)?</summary>
    public bool IsSgd => Groups[0] is SgdGroupOptions;
}

/// <summary>A trajectory: parameters after every step, norms, and the final optimizer state per parameter.</summary>
/// <param name="Parameters">[step][parameter] values after the step.</param>
/// <param name="Norms">Per step, the global norm of the averaged gradients (NaN where the run did not compute one).</param>
/// <param name="State">State name → per parameter its final values.</param>
/// <param name="ParameterSteps">Per parameter, the steps in which it had a gradient.</param>
public sealed record OptimTrajectory(float[][][] Parameters, double[] Norms, IReadOnlyDictionary<string, float[][]> State, long[] ParameterSteps);

/// <summary>How one sharded run differs from the reference.</summary>
/// <param name="Case">The case's name.</param>
/// <param name="Stage">ZeRO stage.</param>
/// <param name="Kernel">Fused or Reference.</param>
/// <param name="MaxParameter">max |param − reference| over all steps and elements.</param>
/// <param name="WorstParameter">Where that maximum is (step, parameter[element]).</param>
/// <param name="MaxState">State name → max |state − reference's state| / max(1, |reference's state|) after the run: absolute
/// below magnitude 1, relative above (a momentum buffer grows to several times the gradients).</param>
/// <param name="MaxNormRelative">max |norm − reference's norm| / reference's norm over the steps where the reference clipped.</param>
/// <param name="StepMismatch">The first parameter whose step count differs, or null.</param>
public sealed record OptimDifferences(string Case, int Stage, string Kernel, double MaxParameter, string WorstParameter,
    Dictionary<string, double> MaxState, double MaxNormRelative, string? StepMismatch);

/// <summary>
/// The AdamW/SGD parity problem: four seeded parameters (w [4, 5], b [5], u [3, 3], e [7]; 41 elements, so with
/// alignment 1 parameters straddle shard boundaries at W = 2, 3, 4), gradients generated per (step, parameter) from a
/// seed, and nine cases. <see cref="Reference"/> runs TorchSharp's <c>torch.optim.AdamW</c> / <c>torch.optim.SGD</c>
/// with <c>clip_grad_norm_</c> before <c>step()</c>; <see cref="Sharded"/> runs <see cref="ShardedOptimizer"/>, where rank
/// r gets the gradient × 2(r+1)/(W+1), so the rank average is the reference's gradient.
/// </summary>
public static class TorchOptimProblem
{
    /// <summary>Steps of every case.</summary>
    public const int Steps = 10;

    private static readonly (string Name, long[] Shape)[] s_shapes = [("w", [4, 5]), ("b", [5]), ("u", [3, 3]), ("e", [7])];

    // Two groups with missing gradients: b's first gradient comes at step 3 (its bias corrections and its momentum
    // buffer start there), e has none in steps 4-6 and u none in the last step.
    private static readonly HashSet<(int, int)> s_missing = [(1, 1), (2, 1), (4, 3), (5, 3), (6, 3), (10, 2)];

    // Unscaled, the 41 gradients have a norm near 3.7, so max_norm 1 clips; at steps 3 and 7 the norm is near 0.37 and it does not.
    private static readonly Dictionary<int, float> s_smallSteps = new() { [3] = 0.1f, [7] = 0.1f };

    /// <summary>The cases, by name.</summary>
    public static IReadOnlyList<TorchOptimCase> Cases { get; } =
    [
        new("adamw_weight_decay", [new AdamWGroupOptions { LearningRate = 1e-2, WeightDecay = 0.1 }], [[0, 1, 2, 3]]),
        new("adamw_two_groups",
            [
                new AdamWGroupOptions { LearningRate = 2e-2, Betas = [0.8, 0.99], Eps = 1e-6, WeightDecay = 0.05 },
                new AdamWGroupOptions { LearningRate = 5e-3, WeightDecay = 0 },
            ],
            [[0, 2], [1, 3]]),
        new("adamw_missing_grads_lr_change",
            [new AdamWGroupOptions { LearningRate = 1e-2, WeightDecay = 0.01 }, new AdamWGroupOptions { LearningRate = 3e-2, WeightDecay = 0.1 }],
            [[0, 1], [2, 3]])
        {
            Missing = s_missing,
            LearningRates = new Dictionary<int, double[]> { [4] = [5e-3, 1e-2], [8] = [2e-2, 2e-3] },
        },
        new("adamw_clip", [new AdamWGroupOptions { LearningRate = 1e-2, WeightDecay = 0.01 }], [[0, 1, 2, 3]], MaxGradNorm: 1.0)
        {
            GradientScales = s_smallSteps,
            Missing = new HashSet<(int, int)> { (2, 0) },
        },
        new("sgd_plain", [new SgdGroupOptions { LearningRate = 0.05, WeightDecay = 0.01 }], [[0, 1, 2, 3]]),
        new("sgd_momentum_dampening", [new SgdGroupOptions { LearningRate = 0.02, Momentum = 0.9, Dampening = 0.3, WeightDecay = 0.01 }],
            [[0, 1, 2, 3]]),
        new("sgd_nesterov", [new SgdGroupOptions { LearningRate = 0.02, Momentum = 0.9, Nesterov = true, WeightDecay = 1e-3 }], [[0, 1, 2, 3]]),
        new("sgd_two_groups_missing_grads_lr_change",
            [
                new SgdGroupOptions { LearningRate = 0.02, Momentum = 0.9, Dampening = 0.1, WeightDecay = 0.01 },
                new SgdGroupOptions { LearningRate = 0.02, Momentum = 0.8, Nesterov = true, WeightDecay = 0.05 },
            ],
            [[0, 1], [2, 3]])
        {
            Missing = s_missing,
            LearningRates = new Dictionary<int, double[]> { [4] = [0.01, 0.05], [8] = [0.04, 0.01] },
        },
        new("sgd_clip", [new SgdGroupOptions { LearningRate = 0.05, Momentum = 0.9 }], [[0, 1, 2, 3]], MaxGradNorm: 1.0)
        {
            GradientScales = s_smallSteps,
            Missing = new HashSet<(int, int)> { (2, 0) },
        },
    ];

    /// <summary>The case called <paramref name="name"/>.</summary>
    public static TorchOptimCase Case(string name) => Cases.Single(c => c.Name == name);

    /// <summary>The parameters' initial values, uniform in [−1, 1), seeded per parameter.</summary>
    public static float[] Initial(int parameter) => Uniform(24 + parameter, Numel(parameter), 1f);

    /// <summary>The averaged gradient of a parameter at a step (1-based), or null where the case leaves it missing.</summary>
    public static float[]? Gradient(TorchOptimCase c, int step, int parameter) =>
        c.Missing.Contains((step, parameter)) ? null : Uniform(1000 * step + parameter, Numel(parameter), c.GradientScales.GetValueOrDefault(step, 1f));

    /// <summary>
    /// TorchSharp's <c>torch.optim.AdamW</c> or <c>torch.optim.SGD</c> on the case in one process: per step the learning
    /// rates, the gradients (null where missing), <c>clip_grad_norm_</c> when the case clips, then <c>step()</c>.
    /// </summary>
    public static OptimTrajectory Reference(TorchOptimCase c)
    {
        using var scope = NewDisposeScope();
        var parameters = s_shapes.Select((s, i) => new Parameter(tensor(Initial(i), s.Shape))).ToArray();
        var groups = c.GroupParameters.Select(g => g.Select(i => parameters[i]).ToArray()).ToArray();
        using optim.Optimizer optimizer = c.IsSgd
            ? new SGD(c.Groups.Cast<SgdGroupOptions>().Select((o, g) =>
                new SGD.ParamGroup(groups[g], o.LearningRate, o.Momentum, o.Dampening, o.WeightDecay, o.Nesterov)), c.Groups[0].LearningRate)
            : new AdamW(c.Groups.Cast<AdamWGroupOptions>().Select((o, g) =>
                new AdamW.ParamGroup(groups[g], o.LearningRate, o.Beta1, o.Beta2, o.Eps, o.WeightDecay)));
        var trajectory = new float[Steps][][];
        var norms = new double[Steps];
        for (var s = 1; s <= Steps; s++)
        {
            using var stepScope = NewDisposeScope();
            if (c.LearningRates.TryGetValue(s, out var lrs))
            {
                foreach (var (group, lr) in optimizer.ParamGroups.Zip(lrs))
                {
                    group.LearningRate = lr;
                }
            }
            for (var i = 0; i < parameters.Length; i++)
            {
                parameters[i].grad = Gradient(c, s, i) is { } g ? tensor(g, s_shapes[i].Shape) : null;
            }
            norms[s - 1] = c.MaxGradNorm > 0 ? nn.utils.clip_grad_norm_(parameters, c.MaxGradNorm) : double.NaN;
            optimizer.step();
            trajectory[s - 1] = parameters.Select(p => p.data<float>().ToArray()).ToArray();
        }

        // state_dict() lists the state group by group, in each group's parameter order.
        var states = new OptimizerState[parameters.Length];
        var order = c.GroupParameters.SelectMany(g => g).ToArray();
        var dict = ((OptimizerHelper)optimizer).state_dict();
        for (var k = 0; k < order.Length; k++)
        {
            states[order[k]] = dict.State[k];
        }
        float[] Values(Tensor? t, int i) => t is null ? new float[Numel(i)] : t.data<float>().ToArray();
        var state = c.IsSgd
            ? new Dictionary<string, float[][]> { ["momentum_buffer"] = states.Select((st, i) => Values(((SGD.State)st).momentum_buffer, i)).ToArray() }
            : new Dictionary<string, float[][]>
            {
                ["exp_avg"] = states.Select((st, i) => Values(((AdamW.State)st).exp_avg, i)).ToArray(),
                ["exp_avg_sq"] = states.Select((st, i) => Values(((AdamW.State)st).exp_avg_sq, i)).ToArray(),
            };
        // TorchSharp's SGD keeps no step count; it is the steps with a gradient.
        var steps = c.IsSgd
            ? Enumerable.Range(0, parameters.Length).Select(i => (long)Enumerable.Range(1, Steps).Count(s => !c.Missing.Contains((s, i)))).ToArray()
            : states.Select(st => ((AdamW.State)st).step).ToArray();
        return new OptimTrajectory(trajectory, norms, state, steps);
    }

    /// <summary>
    /// <see cref="ShardedOptimizer"/> on the case over <paramref name="collective"/>'s ranks, with a layout of alignment 1;
    /// the state is gathered at the end (collective: every rank must call).
    /// </summary>
    public static OptimTrajectory Sharded(TorchOptimCase c, ICollective collective, ZeroStage stage, UpdateKernel kernel, Device? device = null)
    {
        device ??= CPU;
        using var scope = NewDisposeScope();
        var parameters = s_shapes.Select((s, i) => (s.Name, new Parameter(tensor(Initial(i), s.Shape).to(device)))).ToList();
        using var flat = new FlatParameters(parameters, collective.WorldSize, alignment: 1, trackUnusedParameters: true);
        // Copies, since the engine's groups own their options and the learning rates change.
        var groups = c.Groups.Select((o, g) => (o switch
        {
            AdamWGroupOptions a => (IGroupOptions)(a with { }),
            SgdGroupOptions s => s with { },
            _ => throw new ArgumentException($"{o.GetType().Name} is neither AdamW's nor SGD's options."),
        }, c.GroupParameters[g]));
        using var optimizer = ShardedOptimizers.Create(flat, collective, groups, c.MaxGradNorm, stage, kernel: kernel);
        var factor = 2.0f * (collective.Rank + 1) / (collective.WorldSize + 1);
        var trajectory = new float[Steps][][];
        var norms = new double[Steps];
        for (var s = 1; s <= Steps; s++)
        {
            using var stepScope = NewDisposeScope();
            if (c.LearningRates.TryGetValue(s, out var lrs))
            {
                for (var g = 0; g < lrs.Length; g++)
                {
                    optimizer.Groups[g].Options.LearningRate = lrs[g];
                }
            }
            flat.ZeroGrad();
            for (var i = 0; i < parameters.Count; i++)
            {
                if (Gradient(c, s, i) is { } g)
                {
                    flat.Parameters[i].grad = tensor(g, s_shapes[i].Shape).mul_(factor).to(device);
                }
            }
            if (!optimizer.Step())
            {
                throw new InvalidOperationException($"{c.Name}: step {s} was skipped although its gradients are finite.");
            }
            trajectory[s - 1] = flat.Parameters.Select(p => p.detach().cpu().data<float>().ToArray()).ToArray();
            norms[s - 1] = optimizer.LastGradNorm;
        }
        var state = optimizer.StateNames.ToDictionary(n => n, n =>
        {
            var full = optimizer.GatherState(n).cpu().data<float>().ToArray();
            return flat.Layout.Entries.Select(e => full.AsSpan((int)e.Offset, (int)e.Numel).ToArray()).ToArray();
        });
        return new OptimTrajectory(trajectory, norms, state, optimizer.ParameterSteps.ToArray());
    }

    /// <summary>How <paramref name="actual"/> differs from <paramref name="reference"/>.</summary>
    public static OptimDifferences Compare(TorchOptimCase c, ZeroStage stage, UpdateKernel kernel, OptimTrajectory reference, OptimTrajectory actual)
    {
        var (maxParameter, worst) = (0.0, "none");
        for (var s = 0; s < Steps; s++)
        {
            for (var i = 0; i < s_shapes.Length; i++)
            {
                var (diff, at) = MaxAbsDiff(actual.Parameters[s][i], reference.Parameters[s][i]);
                if (diff > maxParameter || double.IsNaN(diff))
                {
                    (maxParameter, worst) = (double.IsNaN(diff) ? double.PositiveInfinity : diff, $"step {s + 1}, {s_shapes[i].Name}[{at}]");
                }
            }
        }
        var maxState = reference.State.ToDictionary(kv => kv.Key, kv => kv.Value
            .Select((expected, i) => MaxScaledDiff(actual.State[kv.Key][i], expected)).Max());
        var maxNorm = reference.Norms.Zip(actual.Norms)
            .Where(n => !double.IsNaN(n.First))
            .Select(n => Math.Abs(n.Second - n.First) / n.First)
            .DefaultIfEmpty(0).Max();
        var mismatch = Enumerable.Range(0, s_shapes.Length)
            .Where(i => actual.ParameterSteps[i] != reference.ParameterSteps[i])
            .Select(i => $"{s_shapes[i].Name}: {actual.ParameterSteps[i]} steps, expected {reference.ParameterSteps[i]}")
            .FirstOrDefault();
        return new OptimDifferences(c.Name, (int)stage, kernel.ToString(), maxParameter, worst, maxState, maxNorm, mismatch);
    }

    private static int Numel(int parameter) => (int)s_shapes[parameter].Shape.Aggregate(1L, (a, b) => a * b);

    private static float[] Uniform(int seed, int n, float scale)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => scale * (2 * random.NextSingle() - 1)).ToArray();
    }

    private static double MaxScaledDiff(float[] actual, float[] expected) =>
        actual.Length != expected.Length
            ? double.PositiveInfinity
            : actual.Zip(expected).Select(p => Math.Abs((double)p.First - p.Second) / Math.Max(1, Math.Abs(p.Second)))
                .Aggregate(0.0, (max, d) => d <= max ? max : double.IsNaN(d) ? double.PositiveInfinity : d);

    private static (double Diff, int At) MaxAbsDiff(float[] actual, float[] expected)
    {
        if (actual.Length != expected.Length)
        {
            return (double.PositiveInfinity, -1);
        }
        var (max, at) = (0.0, 0);
        for (var k = 0; k < actual.Length; k++)
        {
            var d = Math.Abs((double)actual[k] - expected[k]);
            if (!(d <= max))
            {
                (max, at) = (double.IsNaN(d) ? double.PositiveInfinity : d, k);
            }
        }
        return (max, at);
    }
}
