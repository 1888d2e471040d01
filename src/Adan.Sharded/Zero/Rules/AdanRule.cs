using Adan.Sharded.Optim;
using Adan.Sharded.Tensors;

namespace Adan.Sharded.Zero.Rules;

/// <summary>
/// Adan (Xie et al.) as an update rule of the <see cref="ShardedOptimizer"/>: the official implementation's four state
/// buffers, its clipping (coefficient max_grad_norm / (‖g‖ + ε of the last group), capped at 1), and the update of
/// <see cref="AdanKernel"/> (fused CPU kernel) or <see cref="AdanTensorStep"/> (tensor operations) on each segment.
/// </summary>
public sealed class AdanRule : UpdateRule<AdanGroupOptions>
{
    private AdanScalars[] _scalars = [];
    private bool[] _firstStep = [];
    private AdanTensorStep? _tensorStep;

    /// <summary>The official names of the four state buffers.</summary>
    public static IReadOnlyList<string> Names { get; } = ["exp_avg", "exp_avg_sq", "exp_avg_diff", "neg_pre_grad"];

    /// <inheritdoc />
    public override string Name => "adan";

    /// <inheritdoc />
    public override IReadOnlyList<string> StateNames => Names;

    /// <inheritdoc />
    public override IReadOnlyCollection<string> KeptOnRestart { get; } = ["neg_pre_grad"];

    /// <inheritdoc />
    public override bool SupportsLowPrecisionState => true;

    /// <inheritdoc />
    public override double GradientCoefficient(double scale, double gradNorm, double maxGradNorm, IReadOnlyList<ShardedGroup> groups)
    {
        // The official code divides by the norm plus the ε of the last group it looped over.
        var clip = maxGradNorm > 0 ? Math.Min(1.0, maxGradNorm / (gradNorm + groups[^1].OptionsAs<AdanGroupOptions>().Eps)) : 1.0;
        return clip * scale;
    }

    /// <inheritdoc />
    protected override void OnBind(ShardState shard)
    {
        _scalars = new AdanScalars[shard.Groups.Count];
        _firstStep = new bool[shard.ParameterCount];
        if (!shard.Fused && shard.Mode == OptimizerStateMode.Fp32)
        {
            _tensorStep = new AdanTensorStep(shard.Parameters, shard.Gradient, shard.State("exp_avg"), shard.State("exp_avg_sq"),
                shard.State("exp_avg_diff"), shard.State("neg_pre_grad"), shard.Segments);
        }
    }

    /// <inheritdoc />
    protected override void Prepare(ShardState shard, double gradientCoefficient)
    {
        for (var g = 0; g < _scalars.Length; g++)
        {
            var o = Options(shard, g);
            _scalars[g] = new AdanScalars(o.LearningRate, o.Beta1, o.Beta2, o.Beta3, o.Eps, o.WeightDecay, o.NoProx, shard.Groups[g].Step, gradientCoefficient);
        }
    }

    /// <inheritdoc />
    protected override void TensorUpdate(ShardState shard, double gradientCoefficient)
    {
        if (shard.Mode != OptimizerStateMode.Fp32)
        {
            LowPrecisionTensorUpdate(shard);
            return;
        }
        for (var i = 0; i < _firstStep.Length; i++)
        {
            _firstStep[i] = FirstStep(shard, i);
        }
        _tensorStep!.Run(gradientCoefficient, _scalars, shard.HadGradient, _firstStep);
    }

    /// <inheritdoc />
    protected override void FusedUpdate(ShardState shard, double gradientCoefficient)
    {
        if (shard.Mode != OptimizerStateMode.Fp32)
        {
            LowPrecisionFusedUpdate(shard);
            return;
        }
        var grad = TensorMemory.AsFloatMemory(shard.Gradient, "gradient shard");
        var param = TensorMemory.AsFloatMemory(shard.Parameters, "parameter shard");
        var m = TensorMemory.AsFloatMemory(shard.State("exp_avg"), "exp_avg");
        var v = TensorMemory.AsFloatMemory(shard.State("exp_avg_sq"), "exp_avg_sq");
        var d = TensorMemory.AsFloatMemory(shard.State("exp_avg_diff"), "exp_avg_diff");
        var n = TensorMemory.AsFloatMemory(shard.State("neg_pre_grad"), "neg_pre_grad");
        foreach (var s in shard.Segments)
        {
            if (!shard.HadGradient[s.Parameter])
            {
                continue;
            }
            var (start, length) = (s.LocalStart, s.Length);
            AdanKernel.FusedStep(param.Slice(start, length), grad.Slice(start, length), m.Slice(start, length), v.Slice(start, length),
                d.Slice(start, length), n.Slice(start, length), _scalars[s.Group], FirstStep(shard, s.Parameter), AdanKernel.Threads);
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing) => _tensorStep?.Dispose();

    // Small parameters keep fp32 state and take the fp32 kernel; the rest decode, update and encode in one pass.
    private unsafe void LowPrecisionFusedUpdate(ShardState shard)
    {
        var grad = (float*)TensorMemory.DataPointer(shard.Gradient);
        var param = (float*)TensorMemory.DataPointer(shard.Parameters);
        foreach (var s in shard.Segments)
        {
            if (!shard.HadGradient[s.Parameter])
            {
                continue;
            }
            var (start, length) = (s.LocalStart, s.Length);
            var first = FirstStep(shard, s.Parameter);
            var small = LowPrecisionState.SmallOffset(shard, s);
            if (small >= 0)
            {
                AdanKernel.FusedStep(new FloatMemory(param + start, length), new FloatMemory(grad + start, length), SmallRun(shard, "exp_avg", small, length),
                    SmallRun(shard, "exp_avg_sq", small, length), SmallRun(shard, "exp_avg_diff", small, length),
                    SmallRun(shard, "neg_pre_grad", small, length), _scalars[s.Group], first, AdanKernel.Threads);
            }
            else if (shard.Mode == OptimizerStateMode.Bf16)
            {
                var step = shard.Groups[s.Group].Step;
                var run = new QuantisedAdanKernel.Bf16Run
                {
                    Param = param + start,
                    Grad = grad + start,
                    ExpAvg = (ushort*)TensorMemory.DataPointer(shard.Stored["exp_avg"]) + start,
                    ExpAvgSq = (ushort*)TensorMemory.DataPointer(shard.Stored["exp_avg_sq"]) + start,
                    ExpAvgDiff = (ushort*)TensorMemory.DataPointer(shard.Stored["exp_avg_diff"]) + start,
                    NegPreGrad = (ushort*)TensorMemory.DataPointer(shard.Stored["neg_pre_grad"]) + start,
                    Length = length,
                    GlobalStart = shard.Start + start,
                    KeyExpAvg = StateCodes.StepKey(shard.Seed, step, 0),
                    KeyExpAvgSq = StateCodes.StepKey(shard.Seed, step, 1),
                    KeyExpAvgDiff = StateCodes.StepKey(shard.Seed, step, 2),
                };
                QuantisedAdanKernel.Step(run, _scalars[s.Group], first, AdanKernel.Threads);
            }
            else
            {
                var block = start / StateCodes.BlockSize;
                var run = new QuantisedAdanKernel.BlockwiseRun
                {
                    Param = param + start,
                    Grad = grad + start,
                    ExpAvg = (byte*)TensorMemory.DataPointer(shard.Stored["exp_avg"]) + start,
                    ExpAvgScale = (float*)TensorMemory.DataPointer(shard.Stored["exp_avg" + LowPrecisionState.ScaleSuffix]) + block,
                    ExpAvgSq = (byte*)TensorMemory.DataPointer(shard.Stored["exp_avg_sq"]) + start,
                    ExpAvgSqScale = (float*)TensorMemory.DataPointer(shard.Stored["exp_avg_sq" + LowPrecisionState.ScaleSuffix]) + block,
                    ExpAvgDiff = (byte*)TensorMemory.DataPointer(shard.Stored["exp_avg_diff"]) + start,
                    ExpAvgDiffScale = (float*)TensorMemory.DataPointer(shard.Stored["exp_avg_diff" + LowPrecisionState.ScaleSuffix]) + block,
                    NegPreGrad = (ushort*)TensorMemory.DataPointer(shard.Stored["neg_pre_grad"]) + start,
                    Length = length,
                };
                QuantisedAdanKernel.Step(run, _scalars[s.Group], first, AdanKernel.Threads);
            }
        }
    }

    private static unsafe FloatMemory SmallRun(ShardState shard, string name, long offset, long length) =>
        new((float*)TensorMemory.DataPointer(shard.Stored[name + LowPrecisionState.SmallSuffix]) + offset, length);

    // The tensor-operation form for devices the fused kernel cannot reach: each segment is decoded to fp32 temporaries
    // (at most one parameter's worth), updated by the reference step and encoded again.
    private void LowPrecisionTensorUpdate(ShardState shard)
    {
        using var noGrad = TorchSharp.torch.no_grad();
        foreach (var s in shard.Segments)
        {
            if (!shard.HadGradient[s.Parameter])
            {
                continue;
            }
            using var scope = TorchSharp.torch.NewDisposeScope();
            var state = Names.Select(n => LowPrecisionState.DecodeSegment(shard, n, s)).ToArray();
            var param = shard.Parameters.narrow(0, s.LocalStart, s.Length);
            var grad = shard.Gradient.narrow(0, s.LocalStart, s.Length);
            AdanKernel.ReferenceStep(param, grad, state[0], state[1], state[2], state[3], _scalars[s.Group], FirstStep(shard, s.Parameter));
            var step = shard.Groups[s.Group].Step;
            for (var b = 0; b < Names.Count; b++)
            {
                LowPrecisionState.EncodeSegment(shard, Names[b], s, state[b], StateCodes.StepKey(shard.Seed, step, b));
            }
        }
    }

    // neg_pre_grad is meaningless until the parameter has had a gradient, and after a restart the group starts again.
    private static bool FirstStep(ShardState shard, int parameter)
    {
        var group = shard.GroupOfParameter[parameter];
        return group >= 0 && (shard.Groups[group].Step == 1 || !shard.HasHadGradient[parameter]);
    }
}
