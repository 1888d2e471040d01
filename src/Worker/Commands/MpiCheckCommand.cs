using System.CommandLine;
using Adan.Sharded.Mpi;
using TorchSharp;

namespace Adan.Worker.Commands;

/// <summary><c>adan mpi-check</c>: every rank all-reduces a small tensor and prints the result.</summary>
internal static class MpiCheckCommand
{
    public static Command Create()
    {
        var command = new Command("mpi-check", "All-reduce a small TorchSharp tensor across ranks and print it (run under mpiexec.mpich).");
        command.SetAction(_ => Run());
        return command;
    }

    private static unsafe int Run()
    {
        using var mpi = MpiRuntime.Initialize();
        using var t = torch.arange(1, 5, dtype: torch.float32) * (mpi.Rank + 1);
        var p = Adan.Sharded.Tensors.TensorMemory.DataPointer(t);
        MpiRuntime.Check(MPI.Unsafe.MPI_Allreduce(MpiNative.InPlace, p, 4, MpiNative.Float, MpiNative.OpSum, MpiNative.CommWorld),
            "MPI_Allreduce", mpi.Rank);
        var values = string.Join(", ", t.data<float>().ToArray());
        Console.WriteLine($"rank {mpi.Rank} of {mpi.Size}: all-reduced [{values}] (MPI library {MpiLibrary.LoadedFrom})");
        return ExitCodes.Success;
    }
}
