using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Adan.Sharded.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Sharded.Optim;

/// <summary>
/// The Adan update of one parameter, apart from the optimizer's bookkeeping, in two
/// implementations that give the same numbers within float tolerance:
/// <list type="bullet">
/// <item><see cref="ReferenceStep"/>: TorchSharp tensor operations in the order of the official
/// single-tensor path, in place, for any device and dtype;</item>
/// <item><see cref="FusedStep(FloatMemory, FloatMemory, FloatMemory, FloatMemory, FloatMemory, FloatMemory, in AdanScalars, bool, int)"/>:
/// one SIMD pass over contiguous fp32 memory of any length (64-bit offsets), split across <see cref="Threads"/> threads.</item>
/// </list>
/// With g = clip·grad and d = g − g_prev (g_prev = −neg_pre_grad, or g itself on the first step):
/// <code>
/// m    = β1·m    + (1 − β1)·g
/// diff = β2·diff + (1 − β2)·d
/// n    = β3·n    + (1 − β3)·(g + β2·d)²
/// p    = p·(1 − lr·wd)                                    (no_prox only)
/// p    = p − (lr/bc1·m + lr·β2/bc2·diff) / (√n/√bc3 + ε)
/// p    = p / (1 + lr·wd)                                  (prox only)
/// neg_pre_grad = −g
/// </code>
/// </summary>
public static class AdanKernel
{
    // Below this many elements per thread, waking a worker costs more than the work it takes over.
    private const int MinElementsPerThread = 1 << 15;

    // Thread ranges start on 64-byte boundaries so no cache line is written by two threads.
    private const int ChunkAlignment = 16;

    private static int _threads = Environment.ProcessorCount;

    /// <summary>
    /// The number of threads the fused kernel uses when an optimizer calls it (default: the
    /// processor count). Set it to the cores divided by the ranks on the host.
    /// </summary>
    public static int Threads
    {
        get => Volatile.Read(ref _threads);
        set
        {
            if (value < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, $"Invalid kernel thread count: {value}; it must be 1 or more.");
            }
            Volatile.Write(ref _threads, value);
        }
    }

    /// <summary>Whether the fused kernel can run on these tensors: all contiguous fp32 CPU tensors of one size.</summary>
    public static bool CanFuse(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, Tensor expAvgDiff, Tensor negPreGrad)
    {
        var numel = param.numel();
        return IsFlatCpuFloat(param, numel) && IsFlatCpuFloat(grad, numel) && IsFlatCpuFloat(expAvg, numel)
            && IsFlatCpuFloat(expAvgSq, numel) && IsFlatCpuFloat(expAvgDiff, numel) && IsFlatCpuFloat(negPreGrad, numel);
    }

    /// <summary>
    /// Applies one Adan update in place with the kernel <paramref name="kind"/> selects
    /// (<see cref="AdanKernelKind.Auto"/>: fused when <see cref="CanFuse"/>, reference otherwise).
    /// </summary>
    /// <param name="param">The parameter, updated in place.</param>
    /// <param name="grad">The unclipped gradient; it is not modified.</param>
    /// <param name="expAvg">exp_avg, updated in place.</param>
    /// <param name="expAvgSq">exp_avg_sq, updated in place.</param>
    /// <param name="expAvgDiff">exp_avg_diff, updated in place.</param>
    /// <param name="negPreGrad">neg_pre_grad, read (unless <paramref name="firstStep"/>) and overwritten with −clip·grad.</param>
    /// <param name="scalars">The step's scalars.</param>
    /// <param name="firstStep">Whether neg_pre_grad is first set to −clip·grad, which makes the gradient difference zero.</param>
    /// <param name="kind">The kernel to use.</param>
    public static void Step(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, Tensor expAvgDiff, Tensor negPreGrad,
        in AdanScalars scalars, bool firstStep, AdanKernelKind kind)
    {
        var fused = kind switch
        {
            AdanKernelKind.Fused => true,
            AdanKernelKind.Reference => false,
            _ => CanFuse(param, grad, expAvg, expAvgSq, expAvgDiff, negPreGrad),
        };
        if (fused)
        {
            FusedStep(
                TensorMemory.AsFloatMemory(param, nameof(param)), TensorMemory.AsFloatMemory(grad, nameof(grad)),
                TensorMemory.AsFloatMemory(expAvg, nameof(expAvg)), TensorMemory.AsFloatMemory(expAvgSq, nameof(expAvgSq)),
                TensorMemory.AsFloatMemory(expAvgDiff, nameof(expAvgDiff)), TensorMemory.AsFloatMemory(negPreGrad, nameof(negPreGrad)),
                scalars, firstStep, Threads);
        }
        else
        {
            ReferenceStep(param, grad, expAvg, expAvgSq, expAvgDiff, negPreGrad, scalars, firstStep);
        }
    }

    /// <summary>
    /// The reference update: TorchSharp in-place operations in the order of the official
    /// single-tensor path, with the scalars passed as doubles. Works for any device and dtype.
    /// Unlike the official code it leaves <paramref name="grad"/> unscaled.
    /// </summary>
    /// <inheritdoc cref="Step" path="/param"/>
    public static void ReferenceStep(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, Tensor expAvgDiff, Tensor negPreGrad,
        in AdanScalars scalars, bool firstStep)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var g = scalars.ClipCoef == 1.0 ? grad : grad.mul(scalars.ClipCoef);
        if (firstStep)
        {
            negPreGrad.copy_(grad).mul_(-scalars.ClipCoef);
        }

        // neg_pre_grad is reused as scratch: first the difference g − g_prev, then g + β2·d.
        negPreGrad.add_(g);
        expAvg.mul_(scalars.Beta1).add_(g, alpha: scalars.OneMinusBeta1);
        expAvgDiff.mul_(scalars.Beta2).add_(negPreGrad, alpha: scalars.OneMinusBeta2);
        negPreGrad.mul_(scalars.Beta2).add_(g);
        expAvgSq.mul_(scalars.Beta3).addcmul_(negPreGrad, negPreGrad, value: scalars.OneMinusBeta3);

        var denom = expAvgSq.sqrt().div_(scalars.BiasCorrection3Sqrt).add_(scalars.Eps);
        if (scalars.NoProx && scalars.DecayFactor != 1.0)
        {
            param.mul_(scalars.DecayFactor);
        }
        param.addcdiv_(expAvg, denom, value: -scalars.StepSize);
        param.addcdiv_(expAvgDiff, denom, value: -scalars.StepSizeDiff);
        if (!scalars.NoProx && scalars.DecayFactor != 1.0)
        {
            param.div_(scalars.DecayFactor);
        }
        negPreGrad.copy_(g).neg_();
    }

    /// <summary>
    /// The fused update over six equally long fp32 spans (for a parameter: its six tensors' memory). One pass reads
    /// param, grad and the four buffers and writes param and the buffers; see
    /// <see cref="FusedStep(FloatMemory, FloatMemory, FloatMemory, FloatMemory, FloatMemory, FloatMemory, in AdanScalars, bool, int)"/>.
    /// </summary>
    /// <inheritdoc cref="FusedStep(FloatMemory, FloatMemory, FloatMemory, FloatMemory, FloatMemory, FloatMemory, in AdanScalars, bool, int)" path="/param"/>
    public static unsafe void FusedStep(Span<float> param, ReadOnlySpan<float> grad, Span<float> expAvg, Span<float> expAvgSq,
        Span<float> expAvgDiff, Span<float> negPreGrad, in AdanScalars scalars, bool firstStep, int threads)
    {
        fixed (float* p = param, g = grad, m = expAvg, v = expAvgSq, d = expAvgDiff, n = negPreGrad)
        {
            FusedStep(new FloatMemory(p, param.Length), new FloatMemory(g, grad.Length), new FloatMemory(m, expAvg.Length),
                new FloatMemory(v, expAvgSq.Length), new FloatMemory(d, expAvgDiff.Length), new FloatMemory(n, negPreGrad.Length),
                scalars, firstStep, threads);
        }
    }

    /// <summary>
    /// The fused update over six equally long runs of fp32 memory of any length (for a shard: the same element range
    /// [start, start + len) of the six flat buffers, which may exceed 2³¹ elements). One pass reads param, grad and the
    /// four buffers and writes param and the buffers; fp32 arithmetic with fused multiply-adds where the CPU has them,
    /// split over up to <paramref name="threads"/> threads for large runs. Offsets are 64-bit throughout.
    /// </summary>
    /// <param name="param">The parameter elements, updated in place.</param>
    /// <param name="grad">The unclipped gradient elements.</param>
    /// <param name="expAvg">exp_avg, updated in place.</param>
    /// <param name="expAvgSq">exp_avg_sq, updated in place.</param>
    /// <param name="expAvgDiff">exp_avg_diff, updated in place.</param>
    /// <param name="negPreGrad">neg_pre_grad, read (unless <paramref name="firstStep"/>) and overwritten with −clip·grad.</param>
    /// <param name="scalars">The step's scalars, including the clip coefficient.</param>
    /// <param name="firstStep">Whether neg_pre_grad is taken as −clip·grad before the update (the official first step).</param>
    /// <param name="threads">The most threads to use (1 or more); small runs use fewer.</param>
    public static unsafe void FusedStep(FloatMemory param, FloatMemory grad, FloatMemory expAvg, FloatMemory expAvgSq,
        FloatMemory expAvgDiff, FloatMemory negPreGrad, in AdanScalars scalars, bool firstStep, int threads)
    {
        if (threads < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(threads), threads, $"Invalid thread count: {threads}; it must be 1 or more.");
        }
        var length = param.Length;
        RequireLength(grad.Length, length, nameof(grad));
        RequireLength(expAvg.Length, length, nameof(expAvg));
        RequireLength(expAvgSq.Length, length, nameof(expAvgSq));
        RequireLength(expAvgDiff.Length, length, nameof(expAvgDiff));
        RequireLength(negPreGrad.Length, length, nameof(negPreGrad));

        var context = new FusedContext
        {
            Param = param.Pointer,
            Grad = grad.Pointer,
            ExpAvg = expAvg.Pointer,
            ExpAvgSq = expAvgSq.Pointer,
            ExpAvgDiff = expAvgDiff.Pointer,
            NegPreGrad = negPreGrad.Pointer,
            Length = length,
            Coefficients = new Coefficients(scalars),
            FirstStep = firstStep,
            Parts = PartsFor(length, threads),
        };
        KernelWorkerPool.Shared.Run(context.Parts, &RunFusedPart, &context);
    }

    /// <summary>How many threads a pass over <paramref name="length"/> elements uses, at most <paramref name="threads"/>.</summary>
    internal static int PartsFor(long length, int threads) =>
        (int)Math.Clamp(length / MinElementsPerThread, 1, threads);

    /// <summary>The element range [start, end) of part <paramref name="part"/> of <paramref name="parts"/>, aligned to cache lines.</summary>
    internal static (long Start, long End) PartRange(long length, int part, int parts)
    {
        var perPart = (length / parts + ChunkAlignment - 1) / ChunkAlignment * ChunkAlignment;
        var start = Math.Min(length, part * perPart);
        var end = part == parts - 1 ? length : Math.Min(length, start + perPart);
        return (start, end);
    }

    private static bool IsFlatCpuFloat(Tensor tensor, long numel) =>
        tensor.dtype == ScalarType.Float32 && tensor.device_type == DeviceType.CPU && tensor.numel() == numel && tensor.is_contiguous();

    private static void RequireLength(long actual, long expected, string name)
    {
        if (actual != expected)
        {
            throw new ArgumentException($"{name} has {actual} elements, expected {expected} (the length of param); pass the same range of every buffer.", name);
        }
    }

    private static unsafe void RunFusedPart(void* state, int part)
    {
        ref readonly var c = ref *(FusedContext*)state;
        var (start, end) = PartRange(c.Length, part, c.Parts);
        FusedRange(c.Param + start, c.Grad + start, c.ExpAvg + start, c.ExpAvgSq + start, c.ExpAvgDiff + start, c.NegPreGrad + start,
            end - start, c.Coefficients, c.FirstStep);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void FusedRange(float* p, float* g, float* m, float* v, float* d, float* n, long count,
        in Coefficients c, bool firstStep)
    {
        long i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var clip = Vector256.Create(c.Clip);
            var beta1 = Vector256.Create(c.Beta1);
            var beta2 = Vector256.Create(c.Beta2);
            var beta3 = Vector256.Create(c.Beta3);
            var oneMinusBeta1 = Vector256.Create(c.OneMinusBeta1);
            var oneMinusBeta2 = Vector256.Create(c.OneMinusBeta2);
            var oneMinusBeta3 = Vector256.Create(c.OneMinusBeta3);
            var biasCorrection3Sqrt = Vector256.Create(c.BiasCorrection3Sqrt);
            var eps = Vector256.Create(c.Eps);
            var negStepSize = Vector256.Create(-c.StepSize);
            var negStepSizeDiff = Vector256.Create(-c.StepSizeDiff);
            var preScale = Vector256.Create(c.PreScale);
            var postScale = Vector256.Create(c.PostScale);
            for (; i <= count - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var grad = Vector256.Load(g + i) * clip;
                var delta = firstStep ? Vector256<float>.Zero : Vector256.Load(n + i) + grad;
                var expAvg = Vector256.MultiplyAddEstimate(Vector256.Load(m + i), beta1, grad * oneMinusBeta1);
                var expAvgDiff = Vector256.MultiplyAddEstimate(Vector256.Load(d + i), beta2, delta * oneMinusBeta2);
                var u = Vector256.MultiplyAddEstimate(delta, beta2, grad);
                var expAvgSq = Vector256.MultiplyAddEstimate(Vector256.Load(v + i), beta3, u * u * oneMinusBeta3);
                var inverseDenom = Vector256<float>.One / (Vector256.Sqrt(expAvgSq) / biasCorrection3Sqrt + eps);
                var step = Vector256.MultiplyAddEstimate(expAvg, negStepSize, expAvgDiff * negStepSizeDiff) * inverseDenom;
                var param = Vector256.MultiplyAddEstimate(Vector256.Load(p + i), preScale, step) * postScale;
                param.Store(p + i);
                expAvg.Store(m + i);
                expAvgSq.Store(v + i);
                expAvgDiff.Store(d + i);
                (-grad).Store(n + i);
            }
        }
        for (; i < count; i++)
        {
            var grad = g[i] * c.Clip;
            var delta = firstStep ? 0f : n[i] + grad;
            var expAvg = m[i] * c.Beta1 + grad * c.OneMinusBeta1;
            var expAvgDiff = d[i] * c.Beta2 + delta * c.OneMinusBeta2;
            var u = delta * c.Beta2 + grad;
            var expAvgSq = v[i] * c.Beta3 + u * u * c.OneMinusBeta3;
            var inverseDenom = 1f / (MathF.Sqrt(expAvgSq) / c.BiasCorrection3Sqrt + c.Eps);
            var step = (expAvg * -c.StepSize + expAvgDiff * -c.StepSizeDiff) * inverseDenom;
            p[i] = (p[i] * c.PreScale + step) * c.PostScale;
            m[i] = expAvg;
            v[i] = expAvgSq;
            d[i] = expAvgDiff;
            n[i] = -grad;
        }
    }

    /// <summary>The step's scalars rounded once to fp32 for the fused kernels (this one and <see cref="QuantisedAdanKernel"/>).</summary>
    internal readonly struct Coefficients
    {
        public Coefficients(in AdanScalars s)
        {
            Clip = (float)s.ClipCoef;
            Beta1 = (float)s.Beta1;
            Beta2 = (float)s.Beta2;
            Beta3 = (float)s.Beta3;
            OneMinusBeta1 = (float)s.OneMinusBeta1;
            OneMinusBeta2 = (float)s.OneMinusBeta2;
            OneMinusBeta3 = (float)s.OneMinusBeta3;
            BiasCorrection3Sqrt = (float)s.BiasCorrection3Sqrt;
            Eps = (float)s.Eps;
            StepSize = (float)s.StepSize;
            StepSizeDiff = (float)s.StepSizeDiff;
            PreScale = s.NoProx ? (float)s.DecayFactor : 1f;
            // Multiplying by 1/(1 + lr·wd) formed in double differs from the division by at most an ulp.
            PostScale = s.NoProx ? 1f : (float)(1.0 / s.DecayFactor);
        }

        public float Clip { get; }
        public float Beta1 { get; }
        public float Beta2 { get; }
        public float Beta3 { get; }
        public float OneMinusBeta1 { get; }
        public float OneMinusBeta2 { get; }
        public float OneMinusBeta3 { get; }
        public float BiasCorrection3Sqrt { get; }
        public float Eps { get; }
        public float StepSize { get; }
        public float StepSizeDiff { get; }
        public float PreScale { get; }
        public float PostScale { get; }
    }

    private unsafe struct FusedContext
    {
        public float* Param;
        public float* Grad;
        public float* ExpAvg;
        public float* ExpAvgSq;
        public float* ExpAvgDiff;
        public float* NegPreGrad;
        public long Length;
        public Coefficients Coefficients;
        public bool FirstStep;
        public int Parts;
    }
}
