using System.Runtime.InteropServices;

namespace Adan.Sharded.Cuda;

/// <summary>
/// The few CUDA driver calls (<c>libcuda.so.1</c>, installed with the GPU driver) that TorchSharp 0.107 does not expose:
/// making a device current on the calling thread before <c>ncclCommInitRank</c>, which binds the communicator to the
/// current device. Loaded on first use.
/// </summary>
/// <remarks>
/// Making the device's primary context current is what <c>cudaSetDevice</c> does; libtorch and NCCL use the same
/// primary context, so their kernels and NCCL's share the device and its legacy default stream.
/// </remarks>
internal static unsafe class CudaDriver
{
    private const string LibraryName = "libcuda.so.1";
    private static readonly object s_gate = new();
    private static IntPtr s_handle;

    /// <summary>Makes device <paramref name="ordinal"/>'s primary context current on this thread (<c>cudaSetDevice</c>).</summary>
    public static void MakeCurrent(int ordinal)
    {
        var handle = Load();
        var init = (delegate* unmanaged<uint, int>)Export(handle, "cuInit");
        var deviceGet = (delegate* unmanaged<int*, int, int>)Export(handle, "cuDeviceGet");
        var retain = (delegate* unmanaged<IntPtr*, int, int>)Export(handle, "cuDevicePrimaryCtxRetain");
        var setCurrent = (delegate* unmanaged<IntPtr, int>)Export(handle, "cuCtxSetCurrent");
        Check(init(0), "cuInit", ordinal);
        int device;
        Check(deviceGet(&device, ordinal), "cuDeviceGet", ordinal);
        IntPtr context;
        Check(retain(&context, device), "cuDevicePrimaryCtxRetain", ordinal);
        Check(setCurrent(context), "cuCtxSetCurrent", ordinal);
    }

    private static IntPtr Load()
    {
        lock (s_gate)
        {
            if (s_handle == IntPtr.Zero && !NativeLibrary.TryLoad(LibraryName, out s_handle))
            {
                throw new InvalidOperationException(
                    $"The CUDA driver {LibraryName} could not be loaded; install the NVIDIA driver (it provides {LibraryName}) or run with device=cpu.");
            }
            return s_handle;
        }
    }

    private static IntPtr Export(IntPtr handle, string symbol) =>
        NativeLibrary.TryGetExport(handle, symbol, out var address)
            ? address
            : throw new InvalidOperationException($"{LibraryName} does not export {symbol}; update the NVIDIA driver.");

    private static void Check(int result, string call, int ordinal)
    {
        if (result != 0)
        {
            throw new InvalidOperationException(
                $"CUDA driver call {call} failed for device {ordinal} (CUresult {result}); check nvidia-smi and CUDA_VISIBLE_DEVICES, or run with device=cpu.");
        }
    }
}
