using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Adan.Sharded.Optim;

/// <summary>
/// The number formats of low-precision optimizer state: bf16 with stochastic rounding, and block-wise 8-bit codes of
/// bitsandbytes' dynamic map (<c>create_dynamic_map</c>: a decimal exponent by leading code bits, then a linear
/// fraction), signed for first moments and unsigned for second moments, each block scaled by its absolute maximum.
/// </summary>
/// <remarks>
/// <para>
/// [Note: keyed rounding] Stochastic rounding draws its bits from a counter-based hash of (seed, step, state buffer,
/// global element index) — murmur3's 32-bit finaliser applied twice — never from a stream, so an element rounds the same
/// way whichever rank owns it and however many steps ran in this process: a resumed or resharded run is bitwise equal to
/// an uninterrupted one. The key of a (seed, step, buffer) triple is mixed on the host once per step
/// (<see cref="StepKey"/>); each element costs two finalisers.
/// </para>
/// <para>
/// 8-bit codes round to the nearest code, as bitsandbytes does. A code is found by a look-up on the top 16 bits of the
/// value's magnitude (the float's exponent and 7 mantissa bits) and one comparison with the
/// midpoint to the next code: no interval of that look-up holds two midpoints, which the tables' construction checks.
/// Magnitudes below 2⁻²⁴ take code 0 without a look-up.
/// </para>
/// </remarks>
public static class StateCodes
{
    /// <summary>Elements per quantisation block (one fp32 absmax each); blocks lie on a grid of global element indices.</summary>
    public const int BlockSize = 256;

    /// <summary>Parameters with fewer elements keep fp32 state in every mode, as bitsandbytes' <c>min_8bit_size</c> does.</summary>
    public const int SmallTensorNumel = 4096;

    // Magnitudes below 2⁻²⁴ lie below the first midpoint of both maps (≥ 1.6e-7) and take code 0; the look-up covers
    // [2⁻²⁴, 1] only, 3,073 entries a map, so both stay in the L1 cache.
    private const int LookupBase = (127 - 24) << 7;
    private const int LookupLength = (0x3F800000 >> 16) - LookupBase + 1;

    /// <summary>The signed map's 128 magnitudes, ascending (code = sign bit · 128 + magnitude index).</summary>
    internal static readonly float[] SignedMagnitudes = SignedMap();

    /// <summary>The unsigned map's 256 values, ascending (code = index).</summary>
    internal static readonly float[] UnsignedValues = UnsignedMap();

    private static readonly float[] s_signedMidpoints = Midpoints(SignedMagnitudes);
    private static readonly float[] s_unsignedMidpoints = Midpoints(UnsignedValues);
    private static readonly byte[] s_signedLookup = Lookup(SignedMagnitudes, s_signedMidpoints);
    private static readonly byte[] s_unsignedLookup = Lookup(UnsignedValues, s_unsignedMidpoints);

    /// <summary>The signed code's value as a fraction of the block's absmax.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float DecodeSigned(byte code)
    {
        var magnitude = SignedMagnitudes[code & 0x7F];
        return (code & 0x80) != 0 ? -magnitude : magnitude;
    }

    /// <summary>The unsigned code's value as a fraction of the block's absmax.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float DecodeUnsigned(byte code) => UnsignedValues[code];

    /// <summary>The signed code nearest to <paramref name="fraction"/> (a value divided by its block's absmax, in [−1, 1]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte EncodeSigned(float fraction)
    {
        var bits = BitConverter.SingleToUInt32Bits(fraction);
        var magnitude = Nearest(BitConverter.UInt32BitsToSingle(bits & 0x7FFFFFFF), s_signedLookup, s_signedMidpoints);
        return (byte)(magnitude == 0 ? 0 : magnitude | (int)((bits >> 24) & 0x80));
    }

    /// <summary>The unsigned code nearest to <paramref name="fraction"/> (a value divided by its block's absmax, in [0, 1]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte EncodeUnsigned(float fraction) => (byte)Nearest(MathF.Max(fraction, 0f), s_unsignedLookup, s_unsignedMidpoints);

    /// <summary>
    /// The code tables as spans held by the caller: a kernel takes them once per block, so its loops read no static
    /// field (each read of one would be a class-initialisation check in code compiled before the tables existed).
    /// </summary>
    internal readonly ref struct Codec
    {
        private readonly ReadOnlySpan<float> _signed;
        private readonly ReadOnlySpan<float> _unsigned;
        private readonly ReadOnlySpan<float> _signedMidpoints;
        private readonly ReadOnlySpan<float> _unsignedMidpoints;
        private readonly ReadOnlySpan<byte> _signedLookup;
        private readonly ReadOnlySpan<byte> _unsignedLookup;

        public Codec()
        {
            _signed = SignedMagnitudes;
            _unsigned = UnsignedValues;
            _signedMidpoints = s_signedMidpoints;
            _unsignedMidpoints = s_unsignedMidpoints;
            _signedLookup = s_signedLookup;
            _unsignedLookup = s_unsignedLookup;
        }

        /// <inheritdoc cref="StateCodes.DecodeSigned"/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float DecodeSigned(byte code)
        {
            var magnitude = _signed[code & 0x7F];
            return (code & 0x80) != 0 ? -magnitude : magnitude;
        }

        /// <inheritdoc cref="StateCodes.DecodeUnsigned"/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float DecodeUnsigned(byte code) => _unsigned[code];

        /// <inheritdoc cref="StateCodes.EncodeSigned"/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public byte EncodeSigned(float fraction)
        {
            var bits = BitConverter.SingleToUInt32Bits(fraction);
            var magnitude = Nearest(BitConverter.UInt32BitsToSingle(bits & 0x7FFFFFFF), _signedLookup, _signedMidpoints);
            return (byte)(magnitude == 0 ? 0 : magnitude | (int)((bits >> 24) & 0x80));
        }

        /// <inheritdoc cref="StateCodes.EncodeUnsigned"/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public byte EncodeUnsigned(float fraction) => (byte)Nearest(MathF.Max(fraction, 0f), _unsignedLookup, _unsignedMidpoints);
    }

    /// <summary>The midpoints between consecutive signed magnitudes (for tensor operations: a code is the count of those below).</summary>
    public static ReadOnlySpan<float> SignedMidpoints => s_signedMidpoints;

    /// <summary>The midpoints between consecutive unsigned values.</summary>
    public static ReadOnlySpan<float> UnsignedMidpoints => s_unsignedMidpoints;

    /// <summary>The 32-bit key of (seed, step, state buffer) for <see cref="RandomBits"/>, mixed once per step on the host.</summary>
    public static uint StepKey(long seed, long step, int buffer)
    {
        var key = Mix((uint)seed ^ 0x9E3779B9u);
        key = Mix(key ^ (uint)(seed >> 32));
        key = Mix(key ^ (uint)step);
        key = Mix(key ^ (uint)(step >> 32));
        return Mix(key ^ (uint)buffer * 0x85EBCA6Bu);
    }

    /// <summary>32 random bits for global element <paramref name="index"/> under <paramref name="key"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint RandomBits(uint key, long index) => Mix(Mix((uint)index ^ key) ^ (uint)(index >> 32));

    /// <summary>Eight lanes of <see cref="RandomBits(uint, long)"/> for indices <paramref name="index"/> + 0..7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> RandomBits8(uint key, long index)
    {
        var low = Vector256.Create((uint)index) + Vector256.Create(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u);
        // The high word changes inside a run of eight only where the low word wraps.
        var high = Vector256.Create((uint)(index >> 32)) + Vector256.ConditionalSelect(
            Vector256.LessThan(low, Vector256.Create((uint)index)), Vector256<uint>.One, Vector256<uint>.Zero);
        return Mix(Mix(low ^ Vector256.Create(key)) ^ high);
    }

    /// <summary>
    /// <paramref name="value"/> rounded stochastically to bf16 (its top 16 bits): the probability of rounding away from
    /// zero is the distance to the lower bf16 in units of the gap, so the expectation is the value.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ToBFloat16Stochastic(float value, uint random)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        // NaN and infinity keep their class: adding to them could turn an infinity into a NaN.
        return (bits & 0x7F800000) == 0x7F800000 ? (ushort)(bits >> 16) : (ushort)((bits + (random & 0xFFFF)) >> 16);
    }

    /// <summary>Eight lanes of <see cref="ToBFloat16Stochastic(float, uint)"/>, widened: bf16 bits in the low half of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> ToBFloat16Stochastic(Vector256<float> value, Vector256<uint> random)
    {
        var bits = value.AsUInt32();
        var special = Vector256.Equals(bits & Vector256.Create(0x7F800000u), Vector256.Create(0x7F800000u));
        var rounded = bits + (random & Vector256.Create(0xFFFFu));
        return Vector256.ShiftRightLogical(Vector256.ConditionalSelect(special, bits, rounded), 16);
    }

    /// <summary><paramref name="value"/> rounded to the nearest bf16, ties to even (for state that is overwritten, not accumulated).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ToBFloat16Nearest(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        return (bits & 0x7F800000) == 0x7F800000 ? (ushort)(bits >> 16) : (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    /// <summary>Eight lanes of <see cref="ToBFloat16Nearest(float)"/>, widened.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> ToBFloat16Nearest(Vector256<float> value)
    {
        var bits = value.AsUInt32();
        var special = Vector256.Equals(bits & Vector256.Create(0x7F800000u), Vector256.Create(0x7F800000u));
        var rounded = bits + Vector256.Create(0x7FFFu) + (Vector256.ShiftRightLogical(bits, 16) & Vector256<uint>.One);
        return Vector256.ShiftRightLogical(Vector256.ConditionalSelect(special, bits, rounded), 16);
    }

    /// <summary>A bf16 value as fp32 (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float FromBFloat16(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Mix(uint h)
    {
        h ^= h >> 16;
        h *= 0x85EBCA6Bu;
        h ^= h >> 13;
        h *= 0xC2B2AE35u;
        return h ^ (h >> 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Mix(Vector256<uint> h)
    {
        h ^= Vector256.ShiftRightLogical(h, 16);
        h *= Vector256.Create(0x85EBCA6Bu);
        h ^= Vector256.ShiftRightLogical(h, 13);
        h *= Vector256.Create(0xC2B2AE35u);
        return h ^ Vector256.ShiftRightLogical(h, 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Nearest(float magnitude, ReadOnlySpan<byte> lookup, ReadOnlySpan<float> midpoints)
    {
        if (!(magnitude < 1f))
        {
            // 1 (the block's absmax itself) and anything rounding past it take the top code; NaN never reaches here
            // because a step with a non-finite gradient is skipped.
            return midpoints.Length;
        }
        var key = (int)(BitConverter.SingleToUInt32Bits(magnitude) >> 16) - LookupBase;
        if (key < 0)
        {
            return 0;
        }
        int code = lookup[key];
        return code < midpoints.Length && magnitude > midpoints[code] ? code + 1 : code;
    }

    // bitsandbytes' create_dynamic_map(signed=True): for decimal exponents 10^-6..10^0, 2^i means of linspace(0.1, 1)
    // on each side, then 0 and 1. Kept symmetric here: the smallest mean (0.55e-6) makes room for 1 on the positive side.
    private static float[] SignedMap()
    {
        var values = new List<float> { 0f };
        for (var i = 1; i < 7; i++)
        {
            values.AddRange(Means(i, 1 << i));
        }
        values.Add(1f);
        values.Sort();
        return Checked(values, 128);
    }

    // create_dynamic_map(signed=False): 2^(i+1) means per decimal exponent, then 0 and 1.
    private static float[] UnsignedMap()
    {
        var values = new List<float> { 0f };
        for (var i = 0; i < 7; i++)
        {
            values.AddRange(Means(i, 2 << i));
        }
        values.Add(1f);
        values.Sort();
        return Checked(values, 256);
    }

    private static IEnumerable<float> Means(int exponent, int count)
    {
        var scale = Math.Pow(10, exponent - 6);
        for (var k = 0; k < count; k++)
        {
            // linspace(0.1, 1, count + 1) in float32 as torch forms it, then the means of neighbours.
            var low = (float)(0.1 + 0.9 * k / count);
            var high = (float)(0.1 + 0.9 * (k + 1) / count);
            yield return (float)(scale * ((low + high) / 2f));
        }
    }

    private static float[] Checked(List<float> values, int count)
    {
        if (values.Count != count || values.Distinct().Count() != count)
        {
            throw new InvalidOperationException($"the dynamic map has {values.Distinct().Count()} distinct values, expected {count}.");
        }
        return [.. values];
    }

    private static float[] Midpoints(float[] values)
    {
        var midpoints = new float[values.Length - 1];
        for (var i = 0; i < midpoints.Length; i++)
        {
            midpoints[i] = (values[i] + values[i + 1]) / 2f;
        }
        return midpoints;
    }

    private static byte[] Lookup(float[] values, float[] midpoints)
    {
        var lookup = new byte[LookupLength];
        var code = 0;
        if (midpoints[0] <= BitConverter.UInt32BitsToSingle((uint)LookupBase << 16))
        {
            throw new InvalidOperationException($"the {values.Length}-value map's first midpoint {midpoints[0]} lies below the look-up's range.");
        }
        for (var key = 0; key < LookupLength; key++)
        {
            var low = BitConverter.UInt32BitsToSingle((uint)(key + LookupBase) << 16);
            var high = BitConverter.UInt32BitsToSingle((uint)(key + LookupBase + 1) << 16);
            while (code < midpoints.Length && low > midpoints[code])
            {
                code++;
            }
            lookup[key] = (byte)code;
            if (code + 1 < midpoints.Length && midpoints[code + 1] < high)
            {
                throw new InvalidOperationException($"look-up interval [{low}, {high}) holds two midpoints of the {values.Length}-value map.");
            }
        }
        return lookup;
    }
}
