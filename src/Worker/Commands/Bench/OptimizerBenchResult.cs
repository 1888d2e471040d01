using System.Text.Json.Serialization;

namespace Adan.Worker.Commands.Bench;

/// <summary>One record of <c>adan bench optimizer</c>, written as JSON with snake_case names.</summary>
internal sealed record OptimizerBenchResult(
    [property: JsonPropertyName("kernel")] string Kernel,
    [property: JsonPropertyName("n_params")] long NParams,
    [property: JsonPropertyName("n_tensors")] int NTensors,
    [property: JsonPropertyName("threads")] int Threads,
    [property: JsonPropertyName("steps")] int Steps,
    [property: JsonPropertyName("ms_per_step_median")] double MsPerStepMedian,
    // 11 fp32 values move per parameter and step: 6 reads (param, grad, 4 buffers) and 5 writes.
    [property: JsonPropertyName("effective_gbps")] double EffectiveGbps,
    [property: JsonPropertyName("triad_gbps")] double TriadGbps)
{
    /// <summary>The sharded kernel's optimizer_state mode; null for the other kernels.</summary>
    [JsonPropertyName("state")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? State { get; init; }

    /// <summary>The sharded kernel's optimizer-state bytes per parameter (fp32 master parameters not counted).</summary>
    [JsonPropertyName("state_bytes_per_param")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? StateBytesPerParam { get; init; }
}
