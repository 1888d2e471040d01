using Adan.Sharded.Tests.MultiRank;

namespace Adan.Sharded.Tests.Mpi;

public class MpiAllReduceTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void AllReduceOfATensorEqualsTheSumOverRanks(int ranks)
    {
        var result = MpiHarness.RunOk(ranks, "raw-allreduce");
        // Rank r contributes (r + 1) * [1, 2, 3, 4]; the sum over ranks is W(W+1)/2 * [1, 2, 3, 4].
        var factor = ranks * (ranks + 1) / 2;
        var expected = string.Join(",", new[] { 1, 2, 3, 4 }.Select(v => (v * factor).ToString()));
        for (var r = 0; r < ranks; r++)
        {
            Assert.Contains($"rank {r} of {ranks}: {expected}", result.Stdout[r]);
        }
    }

    [Fact]
    public void AMissingMpiLibraryGivesAClearError()
    {
        var result = MpiHarness.Run(1, "raw-allreduce", environment: new Dictionary<string, string>
        {
            ["ADAN_MPI_LIBRARY"] = "/nonexistent/libmpi.so.12",
        });
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("No MPI library could be loaded", result.Stderr[0]);
        Assert.Contains("/nonexistent/libmpi.so.12", result.Stderr[0]);
        Assert.Contains("MPICH", result.Stderr[0]);
    }

    [Fact]
    public void ALibraryThatIsNotMpiIsRefused()
    {
        var result = MpiHarness.Run(1, "raw-allreduce", environment: new Dictionary<string, string>
        {
            ["ADAN_MPI_LIBRARY"] = "libz.so.1",
        });
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("not an MPI library", result.Stderr[0]);
    }
}
