using System.Runtime.InteropServices;

namespace Adan.Sharded.Tensors;

/// <summary>
/// libtorch's use of oneDNN (MKL-DNN) for CPU convolutions, which PyTorch exposes as
/// <c>torch.backends.mkldnn.enabled</c> and TorchSharp does not: set here through libtorch's own
/// <c>at::Context::setUserEnabledMkldnn</c>.
/// </summary>
public static partial class OneDnn
{
    [LibraryImport("libtorch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    private static partial IntPtr GlobalContext();

    [LibraryImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static partial void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport("libtorch_cpu", EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool UserEnabledMkldnn(IntPtr context);

    /// <summary>Whether CPU convolutions may use oneDNN (libtorch's default: yes).</summary>
    public static bool Enabled
    {
        get => UserEnabledMkldnn(GlobalContext());
        set => SetUserEnabledMkldnn(GlobalContext(), value);
    }
}
