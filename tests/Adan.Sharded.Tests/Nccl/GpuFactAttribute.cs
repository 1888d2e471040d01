using TorchSharp;

namespace Adan.Sharded.Tests.Nccl;

/// <summary>
/// A fact that runs only where TorchSharp sees a CUDA device (a build with -p:TorchBackend=cuda on a machine with a GPU);
/// elsewhere it is reported as skipped with the reason, never silently passed.
/// </summary>
public sealed class GpuFactAttribute : FactAttribute
{
    public GpuFactAttribute()
    {
        if (!Gpu.Available)
        {
            Skip = Gpu.Reason;
        }
    }
}

/// <summary>A theory that runs only where TorchSharp sees a CUDA device; see <see cref="GpuFactAttribute"/>.</summary>
public sealed class GpuTheoryAttribute : TheoryAttribute
{
    public GpuTheoryAttribute()
    {
        if (!Gpu.Available)
        {
            Skip = Gpu.Reason;
        }
    }
}

internal static class Gpu
{
    public static bool Available { get; } = torch.cuda.is_available();

    public static string Reason =>
        "no CUDA device visible to TorchSharp: this build uses the CPU libtorch (build with -p:TorchBackend=cuda) or the machine has no GPU; deploy/gpu-check.sh runs these on a GPU machine";
}
