using Adan.Sharded.Precision;

namespace Adan.Sharded.Training.Telemetry;

/// <summary>A run's precision in <c>summary.json</c>: what the model computed in and what each step moved.</summary>
/// <param name="Mode">The <c>precision</c> key: fp32 or bf16-mixed.</param>
/// <param name="ReduceDtype">The dtype the gradients were reduced in: fp32 or bf16.</param>
/// <param name="AllGatherBytesPerStep">Bytes of the parameter buffer the all-gather after each step fills (0 at ZeRO stage 0).</param>
/// <param name="ReduceBytesPerStep">Bytes of the gradient buffer each step reduces (reduce-scatter at ZeRO-1/2, all-reduce at 0).</param>
/// <param name="CpuBf16">This CPU's native bf16 support, which decides whether bf16 compute is faster here.</param>
internal sealed record PrecisionSummary(string Mode, string ReduceDtype, long AllGatherBytesPerStep, long ReduceBytesPerStep, CpuBf16Support CpuBf16);
