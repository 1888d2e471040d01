using System.Threading.Channels;
using Adan.Coordinator.Domain;

namespace Adan.Coordinator.Tests.Domain;

/// <summary>
/// The rules that end a job that would otherwise hang: a rank's own failure report, a rank that heartbeats but makes no
/// progress, a job whose last rank never joins. All on the fake clock: time is moved, never waited for.
/// </summary>
public sealed class JobLivenessTests
{
    private const string Job = DomainFixture.Job;

    private static List<JobEvent> Drain(ChannelReader<JobEvent> reader)
    {
        var events = new List<JobEvent>();
        while (reader.TryRead(out var jobEvent))
        {
            events.Add(jobEvent);
        }
        return events;
    }

    /// <summary>Moves the clock <paramref name="seconds"/> forward one second at a time, every rank heartbeating each second.</summary>
    private static void Run(DomainFixture d, int seconds, Func<int, (long Step, long Progress)> rankState, int worldSize = 2)
    {
        for (var s = 0; s < seconds; s++)
        {
            d.Time.Advance(TimeSpan.FromSeconds(1));
            for (var rank = 0; rank < worldSize; rank++)
            {
                var (step, progress) = rankState(rank);
                d.Jobs.Heartbeat(Job, rank, step, progress, TimeSpan.FromMilliseconds(200));
            }
            d.Jobs.CheckTimeouts();
        }
    }

    [Fact]
    public void TheFirstFailureReportFailsTheJobNamingRankHostAndMessageAndLaterOnesKeepIt()
    {
        using var d = DomainFixture.Create();
        d.JoinAll(2);
        var events = d.Jobs.Subscribe(Job, out _);

        var first = d.Jobs.ReportFailure(Job, 1, 2, "node-7", 4242, "dataset not found: /data/train\nsecond line");
        var second = d.Jobs.ReportFailure(Job, 0, 2, "node-1", 1000, "a later error");

        const string reason = "rank 1 (node-7 pid 4242) failed: dataset not found: /data/train second line";
        Assert.Equal(new JobCondition(JobState.Failed, reason), first);
        Assert.Equal(new JobCondition(JobState.Failed, reason), second);
        var failed = Assert.Single(Drain(events), e => e.Kind == JobEventKind.JobFailed);
        Assert.Equal(1, failed.Rank);
        Assert.Equal(reason, failed.Message);
        Assert.Equal(reason, d.Jobs.Status(Job).Reason);
        // The record survives a coordinator restart.
        d.Restart();
        Assert.Equal((JobState.Failed, reason), (d.Jobs.Status(Job).State, d.Jobs.Status(Job).Reason));
    }

    [Fact]
    public void ARankMayReportItsFailureBeforeAnyRankJoined()
    {
        using var d = DomainFixture.Create();
        var condition = d.Jobs.ReportFailure(Job, 3, 4, "h", 7, "cannot read shard");
        Assert.Equal(JobState.Failed, condition.State);
        Assert.Equal(4, d.Jobs.Describe(Job).WorldSize);
        Assert.Equal(CoordinatorErrorKind.FailedPrecondition, Assert.Throws<CoordinatorException>(() => d.Jobs.Join(Job, 0, 4, "h", 1, null)).Kind);
        Assert.Equal(CoordinatorErrorKind.FailedPrecondition, Assert.Throws<CoordinatorException>(() => d.Jobs.ReportFailure(Job, 0, 8, "h", 1, "x")).Kind);
        Assert.Equal(CoordinatorErrorKind.InvalidArgument, Assert.Throws<CoordinatorException>(() => d.Jobs.ReportFailure(Job, 4, 4, "h", 1, "x")).Kind);
    }

    [Fact]
    public void ARankThatHeartbeatsWithoutProgressFailsTheJobAfterTheStallTimeout()
    {
        using var d = DomainFixture.Create(heartbeatTimeout: TimeSpan.FromSeconds(5), stallTimeout: TimeSpan.FromSeconds(10));
        d.JoinAll(2);
        var events = d.Jobs.Subscribe(Job, out _);
        // Both train a step a second for 20 s; then rank 1's training thread blocks (its heartbeats go on) and rank 0,
        // one step ahead, waits for it in a collective.
        for (long step = 1; step <= 19; step++)
        {
            Run(d, 1, _ => (step, step));
        }
        Run(d, 1, rank => rank == 0 ? (20, 20) : (19, 19));
        var stuck = (Rank0: (Step: 20L, Progress: 20L), Rank1: (Step: 19L, Progress: 19L));
        // Rank 1 last advanced 1 s before rank 0: 10 s after that is not past the timeout, 11 s is.
        Run(d, 9, rank => rank == 0 ? stuck.Rank0 : stuck.Rank1);
        Assert.Equal(JobState.Running, d.Jobs.Status(Job).State);

        Run(d, 1, rank => rank == 0 ? stuck.Rank0 : stuck.Rank1);

        var status = d.Jobs.Status(Job);
        Assert.Equal(JobState.Failed, status.State);
        Assert.Equal("rank 1 (test-host pid 1001) made no progress for 11 s after step 19 (stall timeout 10 s)", status.Reason);
        Assert.Equal(1, Assert.Single(Drain(events), e => e.Kind == JobEventKind.JobFailed).Rank);
    }

    [Fact]
    public void SavesAndEvaluationsAdvanceProgressSoALongOneIsNoStall()
    {
        using var d = DomainFixture.Create(stallTimeout: TimeSpan.FromSeconds(10));
        d.JoinAll(2);
        Run(d, 5, _ => (5, 5));
        // A 25 s checkpoint save that marks progress every 8 s (its start, its chunks, its end) is not a stall.
        for (var mark = 6; mark <= 8; mark++)
        {
            Run(d, 8, _ => (5, mark));
        }
        Assert.Equal(JobState.Running, d.Jobs.Status(Job).State);
    }

    [Fact]
    public void TheAdaptiveStallTimeoutIsTenTimesTheLongestIntervalAndAtLeastAMinute()
    {
        using var d = DomainFixture.Create(heartbeatTimeout: TimeSpan.FromSeconds(30));
        d.JoinAll(2);
        Assert.Equal(TimeSpan.FromSeconds(60), d.Jobs.StallTimeout(Job));
        d.Jobs.Heartbeat(Job, 1, 3, 3, TimeSpan.FromSeconds(9));
        Assert.Equal(TimeSpan.FromSeconds(90), d.Jobs.StallTimeout(Job));

        // 89 s without progress is within the adaptive timeout, 91 s is past it.
        Run(d, 89, rank => (3, 3));
        Assert.Equal(JobState.Running, d.Jobs.Status(Job).State);
        Run(d, 2, rank => (3, 3));
        Assert.Contains("(adaptive stall timeout 90 s)", d.Jobs.Status(Job).Reason);
    }

    [Fact]
    public void ARankThatReportsNoProgressIsNeverFailedForAStall()
    {
        using var d = DomainFixture.Create(stallTimeout: TimeSpan.FromSeconds(10));
        d.JoinAll(2);
        // Clients from before progress marks send 0: only their heartbeats count.
        Run(d, 100, _ => (-1, 0));
        Assert.Equal(JobState.Running, d.Jobs.Status(Job).State);
    }

    [Fact]
    public void AJobWhoseLastRankNeverJoinsFailsAfterTheJoinTimeout()
    {
        using var d = DomainFixture.Create(heartbeatTimeout: TimeSpan.FromSeconds(30), joinTimeout: TimeSpan.FromSeconds(120));
        d.Jobs.Join(Job, 0, 3, "h", 1, null);
        d.Jobs.Join(Job, 2, 3, "h", 3, null);
        for (var s = 0; s < 120; s += 10)
        {
            d.Time.Advance(TimeSpan.FromSeconds(10));
            d.Jobs.Heartbeat(Job, 0, -1);
            d.Jobs.Heartbeat(Job, 2, -1);
            d.Jobs.CheckTimeouts();
        }
        Assert.Equal(JobState.Pending, d.Jobs.Status(Job).State);

        d.Time.Advance(TimeSpan.FromSeconds(1));
        d.Jobs.CheckTimeouts();

        var status = d.Jobs.Status(Job);
        Assert.Equal(JobState.Failed, status.State);
        Assert.Equal("rank 1 of 3 never joined: the job waited 121 s (join timeout 120 s)", status.Reason);
    }

    [Fact]
    public void AJobCreatedWithItsTokenWaitsTheJoinTimeoutFromItsCreation()
    {
        using var d = DomainFixture.Create(heartbeatTimeout: TimeSpan.FromSeconds(30), joinTimeout: TimeSpan.FromSeconds(120));
        // Long after the clock's origin, as on a machine that has been up for hours.
        d.Time.Advance(TimeSpan.FromHours(4));
        d.Jobs.CreateJob(Job, 2);
        d.Time.Advance(TimeSpan.FromSeconds(100));
        d.Jobs.CheckTimeouts();
        Assert.Equal(JobState.Pending, d.Jobs.Status(Job).State);

        d.Time.Advance(TimeSpan.FromSeconds(21));
        d.Jobs.CheckTimeouts();

        var status = d.Jobs.Status(Job);
        Assert.Equal(JobState.Failed, status.State);
        Assert.Equal("ranks 0, 1 of 2 never joined: the job waited 121 s (join timeout 120 s)", status.Reason);
    }

    [Fact]
    public void TheRestartCountAndTheFailedRankAreStoredWithTheJob()
    {
        using var d = DomainFixture.Create();
        d.Jobs.CreateJob(Job, 2, restarts: 3);
        d.JoinAll(2);
        Assert.Equal((3, -1), (d.Jobs.Status(Job).Restarts, d.Jobs.Status(Job).FailedRank));

        d.Jobs.ReportFailure(Job, 1, 2, "node-2", 7, "boom");
        d.Restart();

        var status = d.Jobs.Status(Job);
        Assert.Equal((JobState.Failed, 3, 1), (status.State, status.Restarts, status.FailedRank));
    }

    [Fact]
    public void ARankWhoseConnectionClosedAndThatIsNotHeardFromForHalfTheTimeoutFailsTheJobFirstClosedCharged()
    {
        using var d = DomainFixture.Create(heartbeatTimeout: TimeSpan.FromSeconds(10));
        var close = new Dictionary<(string, int), Action<bool>>();
        foreach (var job in new[] { "died", "reconnected", "heartbeats" })
        {
            for (var rank = 0; rank < 3; rank++)
            {
                d.Jobs.Join(job, rank, 3, $"h{rank + 1}", 100 + rank, null);
                d.Jobs.Subscribe(job, rank, out var end);
                close[(job, rank)] = end;
            }
        }
        // In "died" ranks 1 then 0 close their connections (killed, 0.2 s apart); in "reconnected" rank 1's stream closes
        // and opens again; in "heartbeats" rank 1's stream stays closed but it keeps heartbeating (alive).
        close[("died", 1)](true);
        close[("reconnected", 1)](true);
        close[("heartbeats", 1)](true);
        d.Time.Advance(TimeSpan.FromMilliseconds(200));
        close[("died", 0)](true);
        d.Jobs.Subscribe("reconnected", 1, out _);
        for (var s = 0; s < 5; s++)
        {
            d.Time.Advance(TimeSpan.FromSeconds(0.9));
            d.Jobs.CheckTimeouts();
            Assert.Equal(JobState.Running, d.Jobs.Status("died").State);
            foreach (var job in new[] { "reconnected", "heartbeats" })
            {
                for (var rank = 0; rank < 3; rank++)
                {
                    d.Jobs.Heartbeat(job, rank, 1);
                }
            }
        }
        // 4.7 s since rank 1 closed: not yet half the timeout.
        d.Time.Advance(TimeSpan.FromSeconds(0.3));
        d.Jobs.CheckTimeouts();

        var died = d.Jobs.Status("died");
        Assert.Equal((JobState.Failed, 1), (died.State, died.FailedRank));
        Assert.Equal("rank 1 (h2 pid 101) was the first to lose its connection to the coordinator, 5.0 s ago, and has not been heard from for 5.0 s "
            + "(heartbeat timeout 10 s): its process ended or its host went down", died.Reason);
        Assert.Equal(JobState.Running, d.Jobs.Status("reconnected").State);
        Assert.Equal(JobState.Running, d.Jobs.Status("heartbeats").State);
    }

    [Fact]
    public void RanksThatAllClosedTheirConnectionsChargeTheFirstToCloseNotTheCoordinatorsNetworkAfterLateHeartbeats()
    {
        // Every host vanished, the ranks' connections closing as they went (the coordinator heard it: its network works).
        using var d = DomainFixture.Create(heartbeatTimeout: TimeSpan.FromSeconds(10));
        var close = new Action<bool>[3];
        for (var rank = 0; rank < 3; rank++)
        {
            d.Jobs.Join(Job, rank, 3, $"h{rank + 1}", 100 + rank, null);
            d.Jobs.Subscribe(Job, rank, out close[rank]);
        }
        d.Time.Advance(TimeSpan.FromSeconds(3));
        close[2](true);
        d.Time.Advance(TimeSpan.FromSeconds(1));
        close[0](true);
        close[1](true);
        // Heartbeats of ranks 2 and 0 that were in flight arrive after their connections closed: the wait starts again.
        d.Jobs.Heartbeat(Job, 2, 1);
        d.Jobs.Heartbeat(Job, 0, 1);
        d.Time.Advance(TimeSpan.FromSeconds(4.9));
        d.Jobs.CheckTimeouts();
        Assert.Equal(JobState.Running, d.Jobs.Status(Job).State);
        d.Time.Advance(TimeSpan.FromSeconds(0.1));
        d.Jobs.CheckTimeouts();

        var status = d.Jobs.Status(Job);
        Assert.Equal((JobState.Failed, 2), (status.State, status.FailedRank));
        Assert.Equal("rank 2 (h3 pid 102) was the first to lose its connection to the coordinator, 6.0 s ago, and has not been heard from for 5.0 s "
            + "(heartbeat timeout 10 s): its process ended or its host went down", status.Reason);
    }

    [Fact]
    public void EveryHostSilentAtOnceIsChargedToNoRankButOneSilentHostIsNamed()
    {
        using var d = DomainFixture.Create(heartbeatTimeout: TimeSpan.FromSeconds(10));
        foreach (var job in new[] { "cut-coordinator", "cut-host" })
        {
            for (var rank = 0; rank < 3; rank++)
            {
                d.Jobs.Join(job, rank, 3, $"h{rank + 1}", 100 + rank, null);
            }
        }
        for (var s = 0; s < 11; s++)
        {
            d.Time.Advance(TimeSpan.FromSeconds(1));
            // cut-coordinator hears from no one after its ranks' last heartbeats (a third of the timeout apart at most);
            // cut-host from ranks 0 and 1 only.
            if (s < 3)
            {
                d.Jobs.Heartbeat("cut-coordinator", 1, 1);
            }
            d.Jobs.Heartbeat("cut-host", 0, 1);
            d.Jobs.Heartbeat("cut-host", 1, 1);
        }
        d.Jobs.CheckTimeouts();

        var all = d.Jobs.Status("cut-coordinator");
        Assert.Equal((JobState.Failed, -1), (all.State, all.FailedRank));
        Assert.Equal("all 3 ranks, on h1, h2, h3, sent no heartbeat for 8.0 s or more (timeout 10 s): the coordinator lost every host at once "
            + $"(the network of its own host, {Environment.MachineName}, or the whole job ended)", all.Reason);
        var one = d.Jobs.Status("cut-host");
        Assert.Equal((JobState.Failed, 2), (one.State, one.FailedRank));
        Assert.Equal("rank 2 (h3 pid 102) sent no heartbeat for 11.0 s (timeout 10 s)", one.Reason);
    }

    [Fact]
    public void ARestartStartsTheJoinAndStallClocksAfresh()
    {
        using var d = DomainFixture.Create(heartbeatTimeout: TimeSpan.FromSeconds(30), stallTimeout: TimeSpan.FromSeconds(20), joinTimeout: TimeSpan.FromSeconds(20));
        d.JoinAll(2);
        d.Jobs.Join("other", 0, 2, "h", 9, null);
        Run(d, 15, _ => (4, 4));
        d.Restart();
        // 15 s before the restart and 15 after: neither rule has seen 20 s since the restart.
        Run(d, 15, _ => (4, 4));
        d.Jobs.Heartbeat("other", 0, -1);
        d.Jobs.CheckTimeouts();
        Assert.Equal(JobState.Running, d.Jobs.Status(Job).State);
        Assert.Equal(JobState.Pending, d.Jobs.Status("other").State);
    }
}
