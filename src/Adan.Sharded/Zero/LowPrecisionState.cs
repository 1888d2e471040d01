using Adan.Sharded.Optim;
using TorchSharp;

namespace Adan.Sharded.Zero;

/// <summary>
/// The stored form of low-precision state (<see cref="OptimizerStateMode.Bf16"/>, <see cref="OptimizerStateMode.EightBit"/>)
/// as tensor operations on any device: decoding a segment to fp32 and encoding it back, with the same codes and the
/// same keyed stochastic rounding as <see cref="QuantisedAdanKernel"/> (bf16 bitwise for normal numbers; 8-bit codes
/// may differ by one where the fused kernel's fp32 fraction and this division round differently).
/// </summary>
/// <remarks>
/// Stored names: a buffer's codes keep its name; <c>name.absmax</c> holds its block scales (8-bit moments) and
/// <c>name.small</c> the fp32 state of the small parameters in the state range. <c>neg_pre_grad</c> is the one buffer
/// that is not a moment: bf16 in both modes, rounded to nearest (D35).
/// </remarks>
internal static class LowPrecisionState
{
    /// <summary>The suffix of a buffer's block scales.</summary>
    public const string ScaleSuffix = ".absmax";

    /// <summary>The suffix of a buffer's fp32 state of small parameters.</summary>
    public const string SmallSuffix = ".small";

    private const long LowWord = 0xFFFFFFFFL;

    /// <summary>The rule's buffer a stored tensor belongs to.</summary>
    public static string BufferOf(string storedName) => storedName.Split('.')[0];

    /// <summary>Whether a buffer is a moving average (8-bit codes in <see cref="OptimizerStateMode.EightBit"/>); <c>neg_pre_grad</c> is not.</summary>
    public static bool IsMoment(string name) => name != "neg_pre_grad";

    /// <summary>Whether a moment can be negative (signed codes); the second moment cannot.</summary>
    public static bool IsSigned(string name) => name != "exp_avg_sq";

    /// <summary>The index of a moment in the rounding keys (<see cref="StateCodes.StepKey"/>).</summary>
    public static int KeyIndex(string name) => name switch
    {
        "exp_avg" => 0,
        "exp_avg_sq" => 1,
        "exp_avg_diff" => 2,
        _ => 3,
    };

    /// <summary>The offset of segment <paramref name="s"/> in the <c>.small</c> tensors, or −1 when its parameter is not small.</summary>
    public static long SmallOffset(ShardState shard, ShardSegment s)
    {
        if (!shard.SmallParameters.Contains(s.Parameter))
        {
            return -1;
        }
        var entry = shard.SmallParameters;
        var element = shard.Start + s.LocalStart - OffsetOf(shard, s.Parameter);
        return entry.Of(s.Parameter, element) - entry.Before(shard.Start);
    }

    /// <summary>A new fp32 tensor of buffer <paramref name="name"/> over the whole state range; padding is zero.</summary>
    public static torch.Tensor Decode(ShardState shard, string name, IReadOnlyList<ShardSegment> segments)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var codes = shard.Stored[name];
        var result = torch.zeros(codes.numel(), dtype: torch.float32, device: codes.device);
        foreach (var s in segments)
        {
            result.narrow(0, s.LocalStart, s.Length).copy_(DecodeSegment(shard, name, s));
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Segment <paramref name="s"/> of buffer <paramref name="name"/> as a new fp32 tensor (in the caller's dispose scope).</summary>
    public static torch.Tensor DecodeSegment(ShardState shard, string name, ShardSegment s)
    {
        var small = SmallOffset(shard, s);
        if (small >= 0)
        {
            return shard.Stored[name + SmallSuffix].narrow(0, small, s.Length).clone();
        }
        var codes = shard.Stored[name].narrow(0, s.LocalStart, s.Length);
        if (shard.Mode == OptimizerStateMode.Bf16 || !IsMoment(name))
        {
            return codes.to(torch.float32);
        }
        var table = torch.tensor(IsSigned(name) ? SignedTable : StateCodes.UnsignedValues, device: codes.device);
        var scales = BlockScales(shard, name, s).repeat_interleave(StateCodes.BlockSize).narrow(0, 0, s.Length);
        return table.index_select(0, codes.to(torch.int64)).mul_(scales);
    }

    /// <summary>
    /// Stores <paramref name="values"/> (fp32, the segment's new state) as segment <paramref name="s"/> of buffer
    /// <paramref name="name"/>: fp32 for small parameters; otherwise bf16 (moments with stochastic rounding keyed by
    /// <paramref name="key"/> and the global index) or 8-bit codes against each block's new absmax.
    /// </summary>
    public static void EncodeSegment(ShardState shard, string name, ShardSegment s, torch.Tensor values, uint key)
    {
        var small = SmallOffset(shard, s);
        if (small >= 0)
        {
            shard.Stored[name + SmallSuffix].narrow(0, small, s.Length).copy_(values);
            return;
        }
        var codes = shard.Stored[name].narrow(0, s.LocalStart, s.Length);
        if (shard.Mode == OptimizerStateMode.Bf16 || !IsMoment(name))
        {
            codes.copy_(IsMoment(name) ? StochasticBFloat16(values, key, shard.Start + s.LocalStart) : values.to(torch.bfloat16));
            return;
        }
        var blocks = (s.Length + StateCodes.BlockSize - 1) / StateCodes.BlockSize;
        var padded = torch.zeros(blocks * StateCodes.BlockSize, dtype: torch.float32, device: values.device);
        padded.narrow(0, 0, s.Length).copy_(values);
        var absmax = padded.view(blocks, StateCodes.BlockSize).abs().amax(1);
        BlockScales(shard, name, s).copy_(absmax);
        var inverse = torch.where(absmax > 0, absmax.reciprocal(), torch.zeros_like(absmax))
            .repeat_interleave(StateCodes.BlockSize).narrow(0, 0, s.Length);
        var fraction = values.mul(inverse);
        if (IsSigned(name))
        {
            var magnitude = torch.bucketize(fraction.abs(), torch.tensor(StateCodes.SignedMidpoints.ToArray(), device: values.device));
            var signed = torch.where(fraction.lt(0).logical_and(magnitude.gt(0)), magnitude + 128, magnitude);
            codes.copy_(signed);
        }
        else
        {
            codes.copy_(torch.bucketize(fraction.clamp_min(0), torch.tensor(StateCodes.UnsignedMidpoints.ToArray(), device: values.device)));
        }
    }

    /// <summary>
    /// <paramref name="values"/> rounded stochastically to bf16 with the bits of <see cref="StateCodes.RandomBits(uint, long)"/>
    /// for global indices <paramref name="globalStart"/> + i: with x = f·2^e, |f| in [0.5, 1), the 8 significant bits of
    /// bf16 are ⌊|f|·2⁸ + u⌋ for u = (bits mod 2¹⁶)/2¹⁶, which is the fused kernel's add-and-truncate on the float's bits.
    /// </summary>
    public static torch.Tensor StochasticBFloat16(torch.Tensor values, uint key, long globalStart)
    {
        var index = torch.arange(globalStart, globalStart + values.numel(), dtype: torch.int64, device: values.device);
        var bits = Mix(Mix(index.bitwise_and(LowWord).bitwise_xor(key)).bitwise_xor(index.bitwise_right_shift(32)));
        var u = bits.bitwise_and(0xFFFF).to(torch.float64).div_(65536.0);
        var (fraction, exponent) = torch.frexp(values.to(torch.float64));
        var magnitude = fraction.abs().mul_(256.0).add_(u).floor_();
        return torch.ldexp(magnitude.mul_(fraction.sign()), exponent - 8).to(torch.bfloat16);
    }

    // murmur3's finaliser on 32-bit words held in int64 (products wrap modulo 2⁶⁴; the low word is kept).
    private static torch.Tensor Mix(torch.Tensor h)
    {
        h = h.bitwise_xor(h.bitwise_right_shift(16));
        h = h.mul(0x85EBCA6BL).bitwise_and(LowWord);
        h = h.bitwise_xor(h.bitwise_right_shift(13));
        h = h.mul(0xC2B2AE35L).bitwise_and(LowWord);
        return h.bitwise_xor(h.bitwise_right_shift(16));
    }

    private static torch.Tensor BlockScales(ShardState shard, string name, ShardSegment s) =>
        shard.Stored[name + ScaleSuffix].narrow(0, s.LocalStart / StateCodes.BlockSize, (s.Length + StateCodes.BlockSize - 1) / StateCodes.BlockSize);

    private static long OffsetOf(ShardState shard, int parameter) => shard.Layout.Entries[parameter].Offset;

    private static readonly float[] SignedTable = [.. Enumerable.Range(0, 256).Select(c => StateCodes.DecodeSigned((byte)c))];
}
