using System.Globalization;
using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using Adan.Sharded.Statistics;
using Adan.Sharded.Zero;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.MultiRank;

/// <summary>
/// The gradient noise scale measured by the engine on an exactly known finite problem: least squares with a
/// Linear(16, 1) (17 parameters) on N = 512 fixed samples, SGD with learning rate 0 so the parameters stay put, and
/// max_grad_norm 0.01 so every step clips (the norms must be taken before clipping). The truth, G and tr Σ with
/// divisor N, comes from all N per-sample gradients 2(w·x + c − y)[x, 1] in float64. Each step draws B samples without
/// replacement (one permutation per step, the same on every rank and configuration), rank r takes the slice
/// [r·B/W, (r+1)·B/W) in k micro-batches. Per configuration: tr Σ̂ and |Ĝ|² within 4 standard errors of the truth; the
/// estimate without the finite-population factor within 4 standard errors of the predicted biased value
/// |G|² − tr Σ/(N − 1) and more than 4 away from the truth; γ equal to the engine's squared norm before clipping; one
/// step made non-finite on rank 0 is skipped and not measured; the parameters unchanged; and the configurations of one
/// launch (same b and B) agree: |R₁ − R₂| ≤ 2·√(h₁² + h₂²) with h the half-widths of their 95 % intervals.
/// Arguments: STEPS B CONFIG... with CONFIG = k:stage:overlap (e.g. 2:1:o, 1:0:-). Rank 0 prints one
/// "noise-scale ..." line per configuration.
/// </summary>
internal static class NoiseScaleScenario
{
    private const int Samples = 512;
    private const int Features = 16;
    private const int SkippedStep = 3;

    public static int Run(string[] args)
    {
        var steps = int.Parse(args[0], CultureInfo.InvariantCulture);
        var bigBatch = int.Parse(args[1], CultureInfo.InvariantCulture);
        set_num_threads(1);
        using var c = new MpiCollective();
        manual_seed(25);
        using var x = randn(Samples, Features);
        using var wStar = randn(Features, 1);
        using var y = x.matmul(wStar) + 0.5 * randn(Samples, 1);
        var results = new List<(string Name, NoiseScaleEstimate Estimate)>();
        foreach (var config in args[2..])
        {
            var parts = config.Split(':');
            var k = int.Parse(parts[0], CultureInfo.InvariantCulture);
            var stage = (ZeroStage)int.Parse(parts[1], CultureInfo.InvariantCulture);
            var estimate = RunConfig(c, x, y, wStar, steps, bigBatch, k, stage, parts[2] == "o", out var line);
            if (c.Rank == 0)
            {
                Console.WriteLine(line);
            }
            results.Add((config, estimate));
        }
        for (var i = 0; i < results.Count; i++)
        {
            for (var j = i + 1; j < results.Count; j++)
            {
                var (a, b) = (results[i].Estimate, results[j].Estimate);
                var ha = (a.BSimpleCi95![1] - a.BSimpleCi95[0]) / 2;
                var hb = (b.BSimpleCi95![1] - b.BSimpleCi95[0]) / 2;
                Check.That(Math.Abs(a.BSimple!.Value - b.BSimple!.Value) <= 2 * Math.Sqrt(ha * ha + hb * hb),
                    $"B_simple of {results[i].Name} ({a.BSimple}) and {results[j].Name} ({b.BSimple}) disagree beyond their intervals");
            }
        }
        return 0;
    }

    private static NoiseScaleEstimate RunConfig(ICollective c, Tensor x, Tensor y, Tensor wStar, int steps, int bigBatch, int k, ZeroStage stage, bool overlap,
        out string line)
    {
        var world = c.WorldSize;
        manual_seed(7);
        using var model = nn.Linear(Features, 1);
        using (no_grad())
        {
            // Near the optimum, as late in training: the noise dominates the gradient (B_simple ≫ 1).
            model.weight!.copy_(wStar.T + 0.1 * randn(1, Features));
            model.bias!.fill_(0.05);
        }
        using var flat = FlatParameters.FromModule(model, world);
        var reduction = stage == ZeroStage.Replicated ? GradientReduction.AllReduce : GradientReduction.ReduceScatter;
        using var sync = new GradientSync(flat, c, reduction, bucketBytes: 32, overlapWith: overlap ? model : null);
        using var sgd = ShardedOptimizers.Create(flat, c, new SgdGroupOptions { LearningRate = 0, MaxGradNorm = 0.01 }, stage: stage, sync: sync);
        var initial = flat.Values.data<float>().ToArray();
        var (trueTrace, trueGrad) = Truth(x, y, model);

        var micro = bigBatch / (world * k);
        Check.That(micro * world * k == bigBatch, $"B = {bigBatch} does not split into {world} ranks × {k} micro-batches");
        var noise = (GradientNoiseScale?)null;
        var raw = (GradientNoiseScale?)null;
        var order = Enumerable.Range(0, Samples).Select(i => (long)i).ToArray();
        var random = new Random(2025);
        for (var step = 0; step < steps; step++)
        {
            random.Shuffle(order);
            flat.ZeroGrad();
            for (var m = 0; m < k; m++)
            {
                if (overlap && m == k - 1)
                {
                    sync.Arm();
                }
                using var scope = NewDisposeScope();
                using var index = tensor(order.AsSpan((c.Rank * k + m) * micro, micro).ToArray());
                var loss = nn.functional.mse_loss(model.call(x.index_select(0, index)), y.index_select(0, index));
                if (step == SkippedStep && c.Rank == 0 && m == k - 1)
                {
                    loss = loss * float.NaN;
                }
                loss.backward();
                if (m == 0)
                {
                    sgd.RecordSmallBatchGradient();
                }
            }
            var applied = sgd.Step(k);
            Check.That(applied == (step != SkippedStep), $"step {step} applied: {applied}");
            if (!applied)
            {
                Check.That(sgd.LastNoiseSample is null, $"skipped step {step} gave a noise sample");
                continue;
            }
            var sample = sgd.LastNoiseSample ?? throw new InvalidOperationException($"step {step} measured no noise sample");
            Check.That(Math.Abs(sample.BigSquaredNorm - sgd.LastGradNorm * sgd.LastGradNorm) <= 1e-12 * sample.BigSquaredNorm,
                $"γ {sample.BigSquaredNorm} is not the squared norm before clipping {sgd.LastGradNorm * sgd.LastGradNorm}");
            Check.That(sgd.LastClipCoefficient < 1, $"step {step} did not clip (coefficient {sgd.LastClipCoefficient})");
            noise ??= new GradientNoiseScale(sample.SmallMicroBatches * micro, sample.BigMicroBatches * micro, Samples, stepsPerWindow: 20);
            raw ??= new GradientNoiseScale(sample.SmallMicroBatches * micro, sample.BigMicroBatches * micro, null, stepsPerWindow: 20);
            noise.Add(sample.SmallSquaredNorm, sample.BigSquaredNorm);
            raw.Add(sample.SmallSquaredNorm, sample.BigSquaredNorm);
        }
        Check.Equal(initial, flat.Values.data<float>().ToArray(), "parameters after steps at learning rate 0");
        Check.That(noise!.Steps == steps - 1, $"{noise.Steps} steps measured of {steps} with one skipped");
        var est = noise.Result();
        var biased = raw!.Result();
        var predictedRawGrad = trueGrad - trueTrace / (Samples - 1);
        line = string.Create(CultureInfo.InvariantCulture,
            $"noise-scale W={world} k={k} stage={(int)stage} overlap={(overlap ? 1 : 0)} b={est.SmallBatch} B={est.BigBatch} steps={est.Steps}: "
            + $"tr_sigma={est.TraceSigma:F4} se={est.TraceSigmaStandardError:F4} truth={trueTrace:F4} | "
            + $"grad_sq={est.GradSqNorm:F5} se={est.GradSqNormStandardError:F5} truth={trueGrad:F5} | "
            + $"b_simple={est.BSimple:F3} ci=[{est.BSimpleCi95![0]:F3},{est.BSimpleCi95[1]:F3}] truth={trueTrace / trueGrad:F3} | "
            + $"no-f grad_sq={biased.GradSqNorm:F5} se={biased.GradSqNormStandardError:F5} predicted={predictedRawGrad:F5} b_simple={biased.BSimple:F3}");
        WithinFourErrors(trueTrace, est.TraceSigma, est.TraceSigmaStandardError, $"{line}\ntr Σ");
        WithinFourErrors(trueGrad, est.GradSqNorm, est.GradSqNormStandardError, $"{line}\n|G|²");
        WithinFourErrors(predictedRawGrad, biased.GradSqNorm, biased.GradSqNormStandardError, $"{line}\n|G|² without the finite-population factor");
        Check.That(trueGrad - biased.GradSqNorm!.Value > 4 * biased.GradSqNormStandardError!.Value,
            $"{line}\nthe |G|² without the finite-population factor is within 4 standard errors of the truth: the bias is not shown");
        return est;
    }

    private static void WithinFourErrors(double truth, double? estimate, double? standardError, string what) =>
        Check.That(Math.Abs(estimate!.Value - truth) <= 4 * standardError!.Value,
            $"{what} {estimate} is {Math.Abs(estimate.Value - truth) / standardError.Value:F1} standard errors ({standardError}) from the truth {truth}");

    /// <summary>tr Σ (divisor N) and |G|² from every per-sample gradient of ½·mse's 2(w·x + c − y)[x, 1], in float64.</summary>
    private static (double Trace, double GradSq) Truth(Tensor x, Tensor y, nn.Module model)
    {
        var xs = x.data<float>().ToArray();
        var ys = y.data<float>().ToArray();
        var parameters = model.parameters().ToArray();
        var w = parameters[0].data<float>().ToArray();
        var bias = (double)parameters[1].data<float>()[0];
        var gradients = new double[Samples, Features + 1];
        var mean = new double[Features + 1];
        for (var i = 0; i < Samples; i++)
        {
            var e = bias - ys[i];
            for (var j = 0; j < Features; j++)
            {
                e += (double)w[j] * xs[i * Features + j];
            }
            for (var j = 0; j < Features; j++)
            {
                gradients[i, j] = 2 * e * xs[i * Features + j];
            }
            gradients[i, Features] = 2 * e;
            for (var j = 0; j <= Features; j++)
            {
                mean[j] += gradients[i, j] / Samples;
            }
        }
        var trace = 0.0;
        for (var i = 0; i < Samples; i++)
        {
            for (var j = 0; j <= Features; j++)
            {
                trace += (gradients[i, j] - mean[j]) * (gradients[i, j] - mean[j]) / Samples;
            }
        }
        return (trace, mean.Sum(m => m * m));
    }
}
