using System.Runtime.InteropServices;
using System.Text.Json;
using Adan.Sharded.Collectives;
using Adan.Sharded.Nccl;
using Adan.Sharded.Tests.MultiRank;
using Adan.Sharded.Tests.Optim;
using Adan.TestSupport;
using TorchSharp;

namespace Adan.Sharded.Tests.Nccl;

/// <summary>
/// The NCCL binding against the host-memory stand-in (tests/NcclStandIn, built with gcc), so signatures, the unique id's
/// exchange, error mapping and the backend choice are checked on machines without GPUs; NVIDIA's NCCL on CUDA tensors
/// where a GPU and a CUDA build are present.
/// </summary>
public class NcclBackendTests
{
    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetNativeEnvironment(string name, string value, int overwrite);

    [DllImport("libc", EntryPoint = "unsetenv")]
    private static extern int UnsetNativeEnvironment(string name);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void EveryCollectiveOverTheStandInGivesTheHandComputedResult(int ranks)
    {
        var result = MpiHarness.Run(ranks, "collectives", ["nccl", "cpu"], environment: NcclStandIn.Environment());
        Assert.True(result.ExitCode == 0, result.Describe());
        for (var r = 0; r < ranks; r++)
        {
            Assert.Contains($"rank {r}: collectives ok", result.Stdout[r]);
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void RanksThatDidNotGetRankZerosIdAreRefusedWithNcclsTextAndTheRank(int ranks)
    {
        var result = MpiHarness.Run(ranks, "nccl-id-mismatch", environment: NcclStandIn.Environment());
        Assert.True(result.ExitCode == 0, result.Describe());
        for (var r = 0; r < ranks; r++)
        {
            Assert.Contains($"rank {r}: id mismatch refused", result.Stdout[r]);
        }
    }

    public static TheoryData<string, int> GoldenCases()
    {
        var data = new TheoryData<string, int>();
        foreach (var file in GoldenCase.FileNames())
        {
            data.Add(file, 1);
            data.Add(file, 3);
        }
        return data;
    }

    /// <summary>
    /// The path a GPU run takes, on CPU memory: gradients reduce-scattered and parameters all-gathered by the NCCL
    /// binding, the shard updated by tensor operations, against the golden trajectories within their tolerance.
    /// </summary>
    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void ShardedAdanOverNcclWithTheTensorUpdateReproducesTheGoldenTrajectory(string file, int ranks)
    {
        var golden = GoldenCase.Load(file);
        var output = Path.Combine(Path.GetTempPath(), $"adan-nccl-golden-{Guid.NewGuid():N}.json");
        try
        {
            var result = MpiHarness.Run(ranks, "sharded-golden", [file, "1", output, "nccl", "reference"], environment: NcclStandIn.Environment());
            Assert.True(result.ExitCode == 0, result.Describe());
            Assert.Contains("nccl, Reference kernel", result.Stdout[0]);
            using var doc = JsonDocument.Parse(File.ReadAllText(output));
            var trajectory = doc.RootElement.GetProperty("params_after").EnumerateArray().ToArray();
            Assert.Equal(golden.Steps.Count, trajectory.Length);
            for (var s = 0; s < golden.Steps.Count; s++)
            {
                var after = trajectory[s].EnumerateArray().ToArray();
                for (var p = 0; p < golden.Params.Count; p++)
                {
                    Tolerance.AssertClose(after[p].EnumerateArray().Select(v => v.GetSingle()).ToArray(), golden.Steps[s].ParamsAfter[p], 1e-5, 1e-5,
                        $"{file} W={ranks} over NCCL, tensor update: step {s + 1}, parameter {golden.Params[p].Name}");
                }
            }
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Fact]
    public void AMissingLibraryIsNamedWithTheFix()
    {
        var error = Assert.Throws<NcclLibraryException>(() => NcclLibrary.Open("/nonexistent/libnccl.so.2"));
        Assert.Contains("/nonexistent/libnccl.so.2", error.Message);
        Assert.Contains(NcclLibrary.LibraryVariable, error.Message);
        if (!NativeLibrary.TryLoad(NcclLibrary.DefaultName, out _))
        {
            var missing = Assert.Throws<NcclLibraryException>(() => NcclLibrary.Open(NcclLibrary.DefaultName));
            Assert.Contains("libnccl.so.2 could not be loaded", missing.Message);
            Assert.Contains("collective=mpi", missing.Message);
        }
    }

    [Fact]
    public void ALibraryOlderThanTwoTenIsRefusedWithItsVersion()
    {
        // The stand-in reads its version from the process environment at each call, which .NET's own copy does not reach.
        var path = NcclStandIn.LibraryPath;
        SetNativeEnvironment("NCCL_STANDIN_VERSION", "2804", 1);
        try
        {
            var error = Assert.Throws<NcclLibraryException>(() => NcclLibrary.Open(path));
            Assert.Contains("is NCCL 2.8.4; the NCCL backend needs 2.10.0 or newer", error.Message);
            Assert.Contains("collective=mpi", error.Message);
        }
        finally
        {
            UnsetNativeEnvironment("NCCL_STANDIN_VERSION");
        }
        var library = NcclLibrary.Open(path);
        Assert.True(library.IsStandIn);
        Assert.Equal("2.19.3", NcclLibrary.FormatVersion(library.Version));
    }

    [Fact]
    public unsafe void ErrorsCarryNcclsTextTheCallTheRankAndTheLastError()
    {
        var library = NcclLibrary.Open(NcclStandIn.LibraryPath);
        Assert.Equal("invalid argument", library.ErrorString(4));
        var mapped = Assert.Throws<NcclException>(() => library.Check(2, "ncclAllReduce", 3));
        Assert.StartsWith("NCCL ncclAllReduce failed on rank 3: unhandled system error (ncclSystemError, code 2)", mapped.Message);
        Assert.Equal(3, mapped.Rank);

        // An id that ncclGetUniqueId did not make is refused before any communication.
        var error = Assert.Throws<NcclException>(() => library.Check(InitRank(library, default), "ncclCommInitRank", 0));
        Assert.Contains("ncclCommInitRank failed on rank 0: invalid argument (ncclInvalidArgument, code 4)", error.Message);
        Assert.Contains("the unique id was not made by ncclGetUniqueId", error.Message);
    }

    [Fact]
    public void AutoPicksNcclForCudaBuffersAndMpiForCpuBuffers()
    {
        Assert.Equal(CollectiveKind.Nccl, CollectiveFactory.Resolve(CollectiveKind.Auto, new torch.Device("cuda:1")));
        Assert.Equal(CollectiveKind.Mpi, CollectiveFactory.Resolve(CollectiveKind.Auto, torch.CPU));
        Assert.Equal(CollectiveKind.Nccl, CollectiveFactory.Resolve(CollectiveKind.Nccl, torch.CPU));
        using var single = CollectiveFactory.Create(CollectiveKind.Auto, torch.CPU, launchedByMpi: false);
        Assert.IsType<SingleProcessCollective>(single);
        Assert.Equal(DeviceType.CPU, single.Device.type);
        // The one-process collective carries the device it was made for (one GPU needs no NCCL); nothing is allocated there.
        using var onGpu = CollectiveFactory.Create(CollectiveKind.Auto, new torch.Device("cuda:1"), launchedByMpi: false);
        Assert.Equal("cuda:1", onGpu.Device.ToString());
        var forced = Assert.Throws<NcclLibraryException>(() => CollectiveFactory.Create(CollectiveKind.Mpi, new torch.Device("cuda:0"), launchedByMpi: true));
        Assert.Contains("collective=mpi works on CPU memory", forced.Message);
    }

    [GpuFact]
    public void EveryCollectiveOverNvidiasNcclOnCudaTensorsGivesTheHandComputedResult()
    {
        var ranks = Math.Min(4, (int)torch.cuda.device_count());
        var result = MpiHarness.Run(ranks, "collectives", ["nccl", "cuda"]);
        Assert.True(result.ExitCode == 0, result.Describe());
        for (var r = 0; r < ranks; r++)
        {
            Assert.Contains($"rank {r}: collectives ok", result.Stdout[r]);
        }
    }

    /// <summary>On a GPU the shard's tensor update matches the fused CPU kernel on the same golden case.</summary>
    [GpuFact]
    public void ShardedAdanOnCudaReproducesTheGoldenTrajectory()
    {
        foreach (var file in GoldenCase.FileNames())
        {
            var golden = GoldenCase.Load(file);
            var trajectory = GoldenReplay.Run(golden, new torch.Device("cuda:0"));
            for (var s = 0; s < golden.Steps.Count; s++)
            {
                for (var p = 0; p < golden.Params.Count; p++)
                {
                    Tolerance.AssertClose(trajectory[s][p], golden.Steps[s].ParamsAfter[p], 1e-5, 1e-5, $"{file} on cuda:0: step {s + 1}, parameter {golden.Params[p].Name}");
                }
            }
        }
    }

    [Theory]
    [InlineData("dev_01_default.json")]
    [InlineData("dev_05_two_groups.json")]
    [InlineData("dev_06_grad_none.json")]
    [InlineData("dev_08_restart.json")]
    public void TheTensorUpdateInOneProcessReproducesTheGoldenTrajectory(string file)
    {
        var golden = GoldenCase.Load(file);
        var trajectory = GoldenReplay.Run(golden, torch.CPU);
        for (var s = 0; s < golden.Steps.Count; s++)
        {
            for (var p = 0; p < golden.Params.Count; p++)
            {
                Tolerance.AssertClose(trajectory[s][p], golden.Steps[s].ParamsAfter[p], 1e-5, 1e-5, $"{file} tensor update: step {s + 1}, parameter {golden.Params[p].Name}");
            }
        }
    }

    private static unsafe int InitRank(NcclLibrary library, NcclUniqueId id)
    {
        IntPtr comm;
        return library.CommInitRank(&comm, 1, id, 0);
    }
}
