namespace Adan.Sharded.Precision;

/// <summary>
/// Whether this CPU computes in bf16 natively, from the flags of <c>/proc/cpuinfo</c>: <c>avx512_bf16</c> (bf16 dot
/// products, Cooper Lake and Zen 4 on) and <c>amx_bf16</c> (tile matrix multiply, Sapphire Rapids on). Without them
/// oneDNN emulates bf16 through fp32, and bf16 compute is no faster than fp32 on the CPU; it still halves the bytes.
/// </summary>
/// <param name="Avx512Bf16">The CPU has AVX512-BF16.</param>
/// <param name="AmxBf16">The CPU has AMX-BF16.</param>
public sealed record CpuBf16Support(bool Avx512Bf16, bool AmxBf16)
{
    /// <summary>This machine's, read once; both false where <c>/proc/cpuinfo</c> cannot be read.</summary>
    public static CpuBf16Support Current { get; } = Read("/proc/cpuinfo");

    /// <summary>Reads the first <c>flags</c> line of a cpuinfo file.</summary>
    public static CpuBf16Support Read(string path)
    {
        try
        {
            var flags = File.ReadLines(path).FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
            var set = flags is null ? [] : flags[(flags.IndexOf(':') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
            return new CpuBf16Support(set.Contains("avx512_bf16"), set.Contains("amx_bf16"));
        }
        catch (IOException)
        {
            return new CpuBf16Support(false, false);
        }
        catch (UnauthorizedAccessException)
        {
            return new CpuBf16Support(false, false);
        }
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"avx512_bf16 {(Avx512Bf16 ? "yes" : "no")}, amx_bf16 {(AmxBf16 ? "yes" : "no")}";
}
