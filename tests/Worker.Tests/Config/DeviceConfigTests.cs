using Adan.Sharded.Collectives;
using Adan.Sharded.Training.Config;
using Adan.Sharded.Training;

namespace Adan.Worker.Tests.Config;

/// <summary><c>device</c> and <c>collective</c>: bound, validated with the fix, and resolved to a torch device.</summary>
public class DeviceConfigTests
{
    [Fact]
    public void DeviceAndCollectiveBindFromOverrides()
    {
        var config = ConfigBinder.Bind(null, ["device=cuda:1", "collective=nccl"]);
        Assert.Equal("cuda:1", config.Device);
        Assert.Equal(CollectiveKind.Nccl, config.Collective);
        Assert.Equal(CollectiveKind.Auto, new TrainConfig().Collective);
        Assert.Equal("cpu", new TrainConfig().Device);
    }

    [Theory]
    [InlineData("gpu", "Invalid device: 'gpu'; valid choices are cpu | cuda | cuda:N")]
    [InlineData("cuda:x", "Invalid device: 'cuda:x'")]
    public void AnUnknownDeviceIsRefusedWithTheChoices(string device, string message)
    {
        var error = Assert.Throws<ConfigException>(() => ConfigBinder.Bind(null, [$"device={device}"]));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void BackendsThatCannotReachTheDevicesMemoryAreRefused()
    {
        Assert.Contains("Invalid collective: nccl with device cpu",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind(null, ["collective=nccl"])).Message);
        Assert.Contains("Invalid collective: mpi with device cuda",
            Assert.Throws<ConfigException>(() => ConfigBinder.Bind(null, ["device=cuda", "collective=mpi"])).Message);
    }

    [Fact]
    public void AGpuRunMaySaveAndResumeCheckpoints()
    {
        // Saves and loads stage through host buffers (HostStaging), so nothing refuses them on a GPU.
        var config = ConfigBinder.Bind(null, ["device=cuda", "checkpoint_every=10", "resume=latest"]);
        Assert.Equal(10, config.CheckpointEvery);
        Assert.Equal("latest", config.Resume);
    }

    [Fact]
    public void CudaWithoutACudaBuildNamesTheFix()
    {
        Assert.Equal(TorchSharp.DeviceType.CPU, DeviceChoice.Resolve("cpu", 3).type);
        if (!TorchSharp.torch.cuda.is_available())
        {
            var error = Assert.Throws<ConfigException>(() => DeviceChoice.Resolve("cuda", 0));
            Assert.Contains("-p:TorchBackend=cuda", error.Message);
        }
    }
}
