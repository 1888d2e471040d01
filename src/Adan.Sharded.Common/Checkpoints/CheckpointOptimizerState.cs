using System.Text.Json.Serialization;

namespace Adan.Sharded.Checkpoints;

/// <summary>The optimizer bookkeeping that goes with the state buffers in the shards, for any optimizer.</summary>
/// <param name="Name">The optimizer (adan, lamb, adamw, sgd); a checkpoint loads only into the same one.</param>
/// <param name="MaxGradNorm">Global-norm clipping threshold (0 = off).</param>
/// <param name="SkippedSteps">Steps skipped for non-finite gradients so far.</param>
/// <param name="Groups">The parameter groups, with their options and step counters.</param>
public sealed record CheckpointOptimizerState(string Name, double MaxGradNorm, long SkippedSteps, CheckpointGroup[] Groups)
{
    /// <summary>
    /// Per parameter (layout order): the applied steps in which it had a gradient, 0 when it never had one (format 3;
    /// filled in from <see cref="HasPreviousGradient"/> for older formats when read).
    /// </summary>
    public long[]? ParameterSteps { get; init; }

    /// <summary>The optimizer state tensors in every shard file (format 3; Adan's four for older formats when read).</summary>
    public CheckpointStateTensor[]? State { get; init; }

    /// <summary>
    /// How the state tensors are stored (<c>bf16</c>, <c>8bit</c>); null (not written) for fp32, the only mode before it
    /// was recorded. A checkpoint loads only into an optimizer of the same mode.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? StateMode { get; init; }

    /// <summary>Format 1 and 2: per parameter, is its <c>neg_pre_grad</c> meaningful? Never written by format 3.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool[]? HasPreviousGradient { get; init; }

    /// <summary>Adan's four state buffers, the only optimizer formats 1 and 2 held.</summary>
    internal static IReadOnlyList<string> LegacyStateNames { get; } = ["exp_avg", "exp_avg_sq", "exp_avg_diff", "neg_pre_grad"];

    /// <summary>
    /// The bookkeeping as format 3 has it: a format 1 or 2 manifest (always Adan) gets its groups' options objects, the
    /// per-parameter steps (the group's count where a parameter had a gradient: all Adan reads is whether it is above 0)
    /// and the description of its four state tensors of <paramref name="shardSize"/> elements.
    /// </summary>
    internal CheckpointOptimizerState Upgraded(long shardSize)
    {
        if (ParameterSteps is not null && State is not null)
        {
            return this;
        }
        var steps = new long[HasPreviousGradient?.Length ?? 0];
        foreach (var group in Groups ?? [])
        {
            foreach (var p in group?.Parameters ?? [])
            {
                if (p >= 0 && p < steps.Length && HasPreviousGradient![p])
                {
                    steps[p] = Math.Max(1, group!.Step);
                }
            }
        }
        return this with
        {
            Groups = Groups is null ? Groups! : [.. Groups.Select(g => g?.Upgraded(MaxGradNorm)!)],
            ParameterSteps = ParameterSteps ?? (HasPreviousGradient is null ? null : steps),
            State = State ?? [.. LegacyStateNames.Select(n => new CheckpointStateTensor(n, "F32", [shardSize]))],
        };
    }
}
