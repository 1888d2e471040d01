using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Adan.Sharded.Optim;

/// <summary>
/// The fused Adan update over low-precision state (see <see cref="StateCodes"/>): each element's state is decoded to
/// fp32, updated with <see cref="AdanKernel"/>'s fp32 arithmetic (the same operations in the same order) and encoded
/// again in the same pass, so memory traffic is the compact state's and no fp32 copy of the state exists.
/// </summary>
/// <remarks>
/// <para>
/// bf16: the three moments are written with stochastic rounding keyed by (seed, step, buffer, global element index)
/// (<see cref="StateCodes.RandomBits(uint, long)"/>); <c>neg_pre_grad</c>, overwritten every step rather than
/// accumulated, is rounded to nearest.
/// </para>
/// <para>
/// 8-bit: the run is a whole number of <see cref="StateCodes.BlockSize"/>-element blocks (the last one may be short: a
/// parameter's tail), each with one fp32 absmax per moment. A block is decoded into three stack buffers, updated with
/// SIMD, and re-encoded against the new absmax; <c>neg_pre_grad</c> is bf16, rounded to nearest (D35).
/// </para>
/// </remarks>
internal static class QuantisedAdanKernel
{
    /// <summary>The memory of one run of bf16 state: parameters, gradient and the four buffers, <see cref="Length"/> elements each.</summary>
    internal unsafe struct Bf16Run
    {
        public float* Param;
        public float* Grad;
        public ushort* ExpAvg;
        public ushort* ExpAvgSq;
        public ushort* ExpAvgDiff;
        public ushort* NegPreGrad;
        public long Length;

        /// <summary>The global (flat) index of the run's first element, which keys its rounding.</summary>
        public long GlobalStart;

        /// <summary>The step's rounding keys of exp_avg, exp_avg_sq and exp_avg_diff (<see cref="StateCodes.StepKey"/>).</summary>
        public uint KeyExpAvg;
        public uint KeyExpAvgSq;
        public uint KeyExpAvgDiff;
    }

    /// <summary>The memory of one run of 8-bit state: codes per element, one absmax per block, bf16 <c>neg_pre_grad</c>.</summary>
    internal unsafe struct BlockwiseRun
    {
        public float* Param;
        public float* Grad;
        public byte* ExpAvg;
        public float* ExpAvgScale;
        public byte* ExpAvgSq;
        public float* ExpAvgSqScale;
        public byte* ExpAvgDiff;
        public float* ExpAvgDiffScale;
        public ushort* NegPreGrad;
        public long Length;
    }

    /// <summary>One update of a bf16 run, split over up to <paramref name="threads"/> threads.</summary>
    public static unsafe void Step(in Bf16Run run, in AdanScalars scalars, bool firstStep, int threads)
    {
        var context = new Context<Bf16Run> { Run = run, Coefficients = new AdanKernel.Coefficients(scalars), FirstStep = firstStep };
        context.Parts = AdanKernel.PartsFor(run.Length, threads);
        KernelWorkerPool.Shared.Run(context.Parts, &RunBf16Part, &context);
    }

    /// <summary>One update of an 8-bit run (starting on a block boundary), split by blocks over up to <paramref name="threads"/> threads.</summary>
    public static unsafe void Step(in BlockwiseRun run, in AdanScalars scalars, bool firstStep, int threads)
    {
        var context = new Context<BlockwiseRun> { Run = run, Coefficients = new AdanKernel.Coefficients(scalars), FirstStep = firstStep };
        context.Parts = AdanKernel.PartsFor(run.Length, threads);
        KernelWorkerPool.Shared.Run(context.Parts, &RunBlockwisePart, &context);
    }

    private unsafe struct Context<T>
        where T : unmanaged
    {
        public T Run;
        public AdanKernel.Coefficients Coefficients;
        public bool FirstStep;
        public int Parts;
    }

    private static unsafe void RunBf16Part(void* state, int part)
    {
        ref readonly var c = ref *(Context<Bf16Run>*)state;
        var (start, end) = AdanKernel.PartRange(c.Run.Length, part, c.Parts);
        Bf16Range(c.Run, start, end, c.Coefficients, c.FirstStep);
    }

    private static unsafe void RunBlockwisePart(void* state, int part)
    {
        ref readonly var c = ref *(Context<BlockwiseRun>*)state;
        var blocks = (c.Run.Length + StateCodes.BlockSize - 1) / StateCodes.BlockSize;
        var (first, last) = AdanKernel.PartRange(blocks, part, c.Parts);
        for (var b = first; b < last; b++)
        {
            Block(c.Run, b, c.Coefficients, c.FirstStep);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Bf16Range(in Bf16Run r, long start, long end, in AdanKernel.Coefficients c, bool firstStep)
    {
        var i = start;
        if (Vector256.IsHardwareAccelerated)
        {
            var k = new VectorCoefficients(c);
            for (; i <= end - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var n = firstStep ? Vector256<float>.Zero : LoadBf16(r.NegPreGrad + i);
                var (p, m, v, d, negGrad) = k.Update(Vector256.Load(r.Param + i), Vector256.Load(r.Grad + i), LoadBf16(r.ExpAvg + i),
                    LoadBf16(r.ExpAvgSq + i), LoadBf16(r.ExpAvgDiff + i), n, firstStep);
                var index = r.GlobalStart + i;
                p.Store(r.Param + i);
                StoreBf16(StateCodes.ToBFloat16Stochastic(m, StateCodes.RandomBits8(r.KeyExpAvg, index)), r.ExpAvg + i);
                StoreBf16(StateCodes.ToBFloat16Stochastic(v, StateCodes.RandomBits8(r.KeyExpAvgSq, index)), r.ExpAvgSq + i);
                StoreBf16(StateCodes.ToBFloat16Stochastic(d, StateCodes.RandomBits8(r.KeyExpAvgDiff, index)), r.ExpAvgDiff + i);
                StoreBf16(StateCodes.ToBFloat16Nearest(negGrad), r.NegPreGrad + i);
            }
        }
        for (; i < end; i++)
        {
            var n = firstStep ? 0f : StateCodes.FromBFloat16(r.NegPreGrad[i]);
            var (p, m, v, d, negGrad) = ScalarUpdate(c, r.Param[i], r.Grad[i], StateCodes.FromBFloat16(r.ExpAvg[i]),
                StateCodes.FromBFloat16(r.ExpAvgSq[i]), StateCodes.FromBFloat16(r.ExpAvgDiff[i]), n, firstStep);
            var index = r.GlobalStart + i;
            r.Param[i] = p;
            r.ExpAvg[i] = StateCodes.ToBFloat16Stochastic(m, StateCodes.RandomBits(r.KeyExpAvg, index));
            r.ExpAvgSq[i] = StateCodes.ToBFloat16Stochastic(v, StateCodes.RandomBits(r.KeyExpAvgSq, index));
            r.ExpAvgDiff[i] = StateCodes.ToBFloat16Stochastic(d, StateCodes.RandomBits(r.KeyExpAvgDiff, index));
            r.NegPreGrad[i] = StateCodes.ToBFloat16Nearest(negGrad);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Block(in BlockwiseRun r, long block, in AdanKernel.Coefficients c, bool firstStep)
    {
        var start = block * StateCodes.BlockSize;
        var count = (int)Math.Min(StateCodes.BlockSize, r.Length - start);
        float* m = stackalloc float[StateCodes.BlockSize];
        float* v = stackalloc float[StateCodes.BlockSize];
        float* d = stackalloc float[StateCodes.BlockSize];
        byte* mc = r.ExpAvg + start, vc = r.ExpAvgSq + start, dc = r.ExpAvgDiff + start;
        float* p = r.Param + start, g = r.Grad + start;
        ushort* n = r.NegPreGrad + start;
        float ms = r.ExpAvgScale[block], vs = r.ExpAvgSqScale[block], ds = r.ExpAvgDiffScale[block];
        var codec = new StateCodes.Codec();
        for (var i = 0; i < count; i++)
        {
            m[i] = codec.DecodeSigned(mc[i]) * ms;
            v[i] = codec.DecodeUnsigned(vc[i]) * vs;
            d[i] = codec.DecodeSigned(dc[i]) * ds;
        }
        var i8 = 0;
        float mMax = 0f, vMax = 0f, dMax = 0f;
        if (Vector256.IsHardwareAccelerated)
        {
            var k = new VectorCoefficients(c);
            Vector256<float> mAbs = Vector256<float>.Zero, vAbs = Vector256<float>.Zero, dAbs = Vector256<float>.Zero;
            for (; i8 <= count - Vector256<float>.Count; i8 += Vector256<float>.Count)
            {
                var nv = firstStep ? Vector256<float>.Zero : LoadBf16(n + i8);
                var (pv, mv, vv, dv, negGrad) = k.Update(Vector256.Load(p + i8), Vector256.Load(g + i8), Vector256.Load(m + i8),
                    Vector256.Load(v + i8), Vector256.Load(d + i8), nv, firstStep);
                pv.Store(p + i8);
                mv.Store(m + i8);
                vv.Store(v + i8);
                dv.Store(d + i8);
                StoreBf16(StateCodes.ToBFloat16Nearest(negGrad), n + i8);
                mAbs = Vector256.Max(mAbs, Vector256.Abs(mv));
                vAbs = Vector256.Max(vAbs, vv);
                dAbs = Vector256.Max(dAbs, Vector256.Abs(dv));
            }
            for (var lane = 0; lane < Vector256<float>.Count; lane++)
            {
                mMax = MathF.Max(mMax, mAbs.GetElement(lane));
                vMax = MathF.Max(vMax, vAbs.GetElement(lane));
                dMax = MathF.Max(dMax, dAbs.GetElement(lane));
            }
        }
        for (var i = i8; i < count; i++)
        {
            var nPrev = firstStep ? 0f : StateCodes.FromBFloat16(n[i]);
            var (pi, mi, vi, di, negGrad) = ScalarUpdate(c, p[i], g[i], m[i], v[i], d[i], nPrev, firstStep);
            p[i] = pi;
            m[i] = mi;
            v[i] = vi;
            d[i] = di;
            n[i] = StateCodes.ToBFloat16Nearest(negGrad);
            mMax = MathF.Max(mMax, MathF.Abs(mi));
            vMax = MathF.Max(vMax, vi);
            dMax = MathF.Max(dMax, MathF.Abs(di));
        }
        r.ExpAvgScale[block] = mMax;
        r.ExpAvgSqScale[block] = vMax;
        r.ExpAvgDiffScale[block] = dMax;
        // A zero absmax means an all-zero block: every fraction is 0 and so is its code.
        float mInv = mMax > 0f ? 1f / mMax : 0f, vInv = vMax > 0f ? 1f / vMax : 0f, dInv = dMax > 0f ? 1f / dMax : 0f;
        for (var i = 0; i < count; i++)
        {
            mc[i] = codec.EncodeSigned(m[i] * mInv);
            vc[i] = codec.EncodeUnsigned(v[i] * vInv);
            dc[i] = codec.EncodeSigned(d[i] * dInv);
        }
    }

    // AdanKernel.FusedRange's scalar arithmetic, returning instead of storing.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (float Param, float ExpAvg, float ExpAvgSq, float ExpAvgDiff, float NegGrad) ScalarUpdate(in AdanKernel.Coefficients c,
        float param, float gradient, float expAvg, float expAvgSq, float expAvgDiff, float negPreGrad, bool firstStep)
    {
        var grad = gradient * c.Clip;
        var delta = firstStep ? 0f : negPreGrad + grad;
        var m = expAvg * c.Beta1 + grad * c.OneMinusBeta1;
        var d = expAvgDiff * c.Beta2 + delta * c.OneMinusBeta2;
        var u = delta * c.Beta2 + grad;
        var v = expAvgSq * c.Beta3 + u * u * c.OneMinusBeta3;
        var inverseDenom = 1f / (MathF.Sqrt(v) / c.BiasCorrection3Sqrt + c.Eps);
        var step = (m * -c.StepSize + d * -c.StepSizeDiff) * inverseDenom;
        return ((param * c.PreScale + step) * c.PostScale, m, v, d, -grad);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> LoadBf16(ushort* at)
    {
        var bits = Vector128.Load(at);
        var wide = Vector256.Create(Vector128.WidenLower(bits), Vector128.WidenUpper(bits));
        return Vector256.ShiftLeft(wide, 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreBf16(Vector256<uint> widened, ushort* at) =>
        Vector128.Narrow(widened.GetLower(), widened.GetUpper()).Store(at);

    /// <summary><see cref="AdanKernel.Coefficients"/> broadcast to vectors, with AdanKernel.FusedRange's vector arithmetic.</summary>
    private readonly struct VectorCoefficients(in AdanKernel.Coefficients c)
    {
        private readonly Vector256<float> _clip = Vector256.Create(c.Clip);
        private readonly Vector256<float> _beta1 = Vector256.Create(c.Beta1);
        private readonly Vector256<float> _beta2 = Vector256.Create(c.Beta2);
        private readonly Vector256<float> _beta3 = Vector256.Create(c.Beta3);
        private readonly Vector256<float> _oneMinusBeta1 = Vector256.Create(c.OneMinusBeta1);
        private readonly Vector256<float> _oneMinusBeta2 = Vector256.Create(c.OneMinusBeta2);
        private readonly Vector256<float> _oneMinusBeta3 = Vector256.Create(c.OneMinusBeta3);
        private readonly Vector256<float> _biasCorrection3Sqrt = Vector256.Create(c.BiasCorrection3Sqrt);
        private readonly Vector256<float> _eps = Vector256.Create(c.Eps);
        private readonly Vector256<float> _negStepSize = Vector256.Create(-c.StepSize);
        private readonly Vector256<float> _negStepSizeDiff = Vector256.Create(-c.StepSizeDiff);
        private readonly Vector256<float> _preScale = Vector256.Create(c.PreScale);
        private readonly Vector256<float> _postScale = Vector256.Create(c.PostScale);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public (Vector256<float> Param, Vector256<float> ExpAvg, Vector256<float> ExpAvgSq, Vector256<float> ExpAvgDiff, Vector256<float> NegGrad) Update(
            Vector256<float> param, Vector256<float> gradient, Vector256<float> expAvg, Vector256<float> expAvgSq, Vector256<float> expAvgDiff,
            Vector256<float> negPreGrad, bool firstStep)
        {
            var grad = gradient * _clip;
            var delta = firstStep ? Vector256<float>.Zero : negPreGrad + grad;
            var m = Vector256.MultiplyAddEstimate(expAvg, _beta1, grad * _oneMinusBeta1);
            var d = Vector256.MultiplyAddEstimate(expAvgDiff, _beta2, delta * _oneMinusBeta2);
            var u = Vector256.MultiplyAddEstimate(delta, _beta2, grad);
            var v = Vector256.MultiplyAddEstimate(expAvgSq, _beta3, u * u * _oneMinusBeta3);
            var inverseDenom = Vector256<float>.One / (Vector256.Sqrt(v) / _biasCorrection3Sqrt + _eps);
            var step = Vector256.MultiplyAddEstimate(m, _negStepSize, d * _negStepSizeDiff) * inverseDenom;
            return (Vector256.MultiplyAddEstimate(param, _preScale, step) * _postScale, m, v, d, -grad);
        }
    }
}
