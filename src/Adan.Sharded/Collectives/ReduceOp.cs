namespace Adan.Sharded.Collectives;

/// <summary>How a reduction combines the ranks' values.</summary>
public enum ReduceOp
{
    /// <summary>Element-wise sum over ranks.</summary>
    Sum,

    /// <summary>Element-wise sum over ranks divided by the world size.</summary>
    Average,

    /// <summary>Element-wise maximum over ranks.</summary>
    Max,

    /// <summary>Element-wise minimum over ranks.</summary>
    Min,
}
