using Adan.Coordinator.V1;
using Adan.Worker.Commands;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// Which rank the launcher charges when mpiexec ended the job before the coordinator failed it: the one whose connection
/// to the coordinator closed first (the others' closed when MPI killed them after it).
/// </summary>
public class FirstDisconnectedTests
{
    private static MemberStatus Member(int rank, string host, long disconnectedMs, bool left = false) =>
        new() { Rank = rank, Host = host, Pid = 100 + rank, DisconnectedMs = disconnectedMs, Left = left, SilentMs = left ? -1 : 0 };

    [Fact]
    public void TheLongestLostConnectionIsChargedAndTheOthersFollowIt()
    {
        var reply = new JobStatusReply { State = JobState.Running, Members = { Member(0, "h1", 40), Member(1, "h2", 35), Member(2, "h3", 160) } };

        var failure = LaunchCommand.FirstDisconnected(reply);

        Assert.NotNull(failure);
        Assert.Equal("h3", failure.Host);
        Assert.Equal("rank 2 (h3 pid 102) was the first to lose its connection to the coordinator: its process ended or its host went down; "
            + "then rank 0 (h1), rank 1 (h2), 0.12 s later or more", failure.Reason);
    }

    [Fact]
    public void ConnectedAndLeftRanksAreNotCharged()
    {
        Assert.Null(LaunchCommand.FirstDisconnected(new JobStatusReply { Members = { Member(0, "h1", -1), Member(1, "h2", -1) } }));
        var one = LaunchCommand.FirstDisconnected(new JobStatusReply { Members = { Member(0, "h1", 900, left: true), Member(1, "h2", 5) } });
        Assert.Equal(("h2", "rank 1 (h2 pid 101) was the first to lose its connection to the coordinator: its process ended or its host went down"),
            (one?.Host, one?.Reason));
    }
}
