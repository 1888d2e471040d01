using Adan.Sharded.Nccl;
using TorchSharp;

namespace Adan.Sharded.Collectives;

/// <summary>Chooses and creates the <see cref="ICollective"/> for where the flat buffers live.</summary>
public static class CollectiveFactory
{
    /// <summary>
    /// The backend <paramref name="kind"/> resolves to for buffers on <paramref name="device"/>: <see cref="CollectiveKind.Auto"/>
    /// is NCCL for CUDA and MPI for the CPU.
    /// </summary>
    public static CollectiveKind Resolve(CollectiveKind kind, torch.Device device) => kind switch
    {
        CollectiveKind.Auto => device.type == DeviceType.CUDA ? CollectiveKind.Nccl : CollectiveKind.Mpi,
        _ => kind,
    };

    /// <summary>
    /// Creates the collective for this process: <see cref="SingleProcessCollective"/> when it was not started by an MPI
    /// launcher and no backend was forced, else the backend <see cref="Resolve"/> picks.
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    /// <exception cref="NcclLibraryException">MPI was forced for CUDA buffers, or NCCL for CPU buffers (outside the tests' stand-in), or NCCL is missing.</exception>
    public static ICollective Create(CollectiveKind kind, torch.Device device, bool launchedByMpi)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (!launchedByMpi && kind == CollectiveKind.Auto)
        {
            return new SingleProcessCollective(device);
        }
        var resolved = Resolve(kind, device);
        if (resolved == CollectiveKind.Mpi)
        {
            if (device.type != DeviceType.CPU)
            {
                throw new NcclLibraryException(
                    $"collective=mpi works on CPU memory and the model is on {device}; use collective=nccl (or auto) for CUDA tensors, or device=cpu.");
            }
            return new MpiCollective();
        }
        var control = new MpiCollective();
        try
        {
            return new NcclCollective(control, device);
        }
        catch
        {
            control.Dispose();
            throw;
        }
    }
}
