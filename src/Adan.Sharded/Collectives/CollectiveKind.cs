namespace Adan.Sharded.Collectives;

/// <summary>Which backend moves tensors between ranks.</summary>
public enum CollectiveKind
{
    /// <summary>NCCL when the flat buffers are on a CUDA device, MPI for CPU memory, none for one unlaunched process.</summary>
    Auto,

    /// <summary>MPI on CPU memory.</summary>
    Mpi,

    /// <summary>NCCL on CUDA memory, with MPI for control (the unique id, scalars, barriers).</summary>
    Nccl,
}
