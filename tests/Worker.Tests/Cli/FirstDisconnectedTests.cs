using Adan.Coordinator.V1;
using Adan.Worker.Commands;
using Adan.Worker.Launch;

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

        var failure = JobFailure.FirstDisconnected(reply);

        Assert.NotNull(failure);
        Assert.Equal("h3", failure.Host);
        Assert.Equal("rank 2 (h3 pid 102) was the first to lose its connection to the coordinator: its process ended or its host went down; "
            + "then rank 0 (h1), rank 1 (h2), 0.12 s later or more", failure.Reason);
    }

    [Fact]
    public void ConnectedAndLeftRanksAreNotCharged()
    {
        Assert.Null(JobFailure.FirstDisconnected(new JobStatusReply { Members = { Member(0, "h1", -1), Member(1, "h2", -1) } }));
        var one = JobFailure.FirstDisconnected(new JobStatusReply { Members = { Member(0, "h1", 900, left: true), Member(1, "h2", 5) } });
        Assert.Equal(("h2", "rank 1 (h2 pid 101) was the first to lose its connection to the coordinator: its process ended or its host went down"),
            (one?.Host, one?.Reason));
    }

    [Fact]
    public void ClosesWithinAFewMillisecondsAreNamedTogetherAndOnlyAHostTheyShareIsCharged()
    {
        var apart = JobFailure.FirstDisconnected(new JobStatusReply { Members = { Member(0, "h1", 203), Member(1, "h2", 200), Member(2, "h3", 100) } });
        Assert.Equal((null, "rank 0 (h1 pid 100) and rank 1 (h2 pid 101) were the first to lose their connections to the coordinator, within 5 ms of each "
            + "other (which went first is not known): their processes ended or their hosts went down; then rank 2 (h3), 0.10 s later or more"),
            (apart?.Host, apart?.Reason));
        var shared = JobFailure.FirstDisconnected(new JobStatusReply { Members = { Member(0, "h1", 50), Member(1, "h1", 50) } });
        Assert.Equal("h1", shared?.Host);
    }
}
