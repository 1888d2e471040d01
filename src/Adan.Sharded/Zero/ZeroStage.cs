namespace Adan.Sharded.Zero;

/// <summary>How much of the optimizer's memory is sharded across ranks.</summary>
public enum ZeroStage
{
    /// <summary>Replicated: every rank keeps all four Adan buffers and all-reduces the gradients (for comparison).</summary>
    Replicated = 0,

    /// <summary>ZeRO-1: each rank keeps the four buffers for its shard only; full gradient buffers are kept.</summary>
    OptimizerState = 1,

    /// <summary>ZeRO-2: as ZeRO-1, and the gradient pages outside the own shard are returned to the kernel after the reduce-scatter.</summary>
    Gradients = 2,
}
