using TorchSharp;

namespace Adan.Sharded.Training;

/// <summary>The torch device a rank trains on, from the <c>device</c> setting and the rank's index on its host.</summary>
internal static class DeviceChoice
{
    /// <summary>
    /// cpu → the CPU; cuda → GPU <paramref name="localRank"/> (one GPU per rank of the host); cuda:N → GPU N. A CUDA
    /// device that TorchSharp cannot see is an error that names the fix.
    /// </summary>
    public static torch.Device Resolve(string device, int localRank)
    {
        if (device == "cpu")
        {
            return torch.CPU;
        }
        if (!torch.cuda.is_available())
        {
            throw new Config.ConfigException(
                $"Invalid device: '{device}'; TorchSharp sees no CUDA device (this build uses the CPU libtorch or the machine has no GPU). " +
                "Build with -p:TorchBackend=cuda on a machine with an NVIDIA GPU and driver, or set device=cpu.");
        }
        var count = torch.cuda.device_count();
        var index = device == "cuda" ? localRank : int.Parse(device.AsSpan("cuda:".Length), System.Globalization.CultureInfo.InvariantCulture);
        if (index >= count)
        {
            throw new Config.ConfigException(device == "cuda"
                ? $"Invalid device: 'cuda' for local rank {localRank}; this host has {count} GPU(s). Launch at most {count} rank(s) per host (one GPU each)."
                : $"Invalid device: '{device}'; this host has {count} GPU(s), cuda:0 to cuda:{count - 1}.");
        }
        return new torch.Device(DeviceType.CUDA, index);
    }
}
