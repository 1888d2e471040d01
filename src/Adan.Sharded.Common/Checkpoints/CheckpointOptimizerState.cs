namespace Adan.Sharded.Checkpoints;

/// <summary>The optimizer bookkeeping that goes with the state buffers in the shards.</summary>
/// <param name="Name">Always <c>adan</c>.</param>
/// <param name="MaxGradNorm">Global-norm clipping threshold (0 = off).</param>
/// <param name="SkippedSteps">Steps skipped for non-finite gradients so far.</param>
/// <param name="HasPreviousGradient">Per parameter (layout order): is its <c>neg_pre_grad</c> meaningful?</param>
/// <param name="Groups">The parameter groups.</param>
public sealed record CheckpointOptimizerState(
    string Name,
    double MaxGradNorm,
    long SkippedSteps,
    bool[] HasPreviousGradient,
    CheckpointGroup[] Groups);
