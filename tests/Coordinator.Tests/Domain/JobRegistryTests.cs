using System.Threading.Channels;
using Adan.Coordinator.Domain;
using Adan.Sharded.Schedules;

namespace Adan.Coordinator.Tests.Domain;

/// <summary>Membership on the domain types alone: no gRPC, no Kestrel, time moved by hand.</summary>
public sealed class JobRegistryTests
{
    private const string Job = DomainFixture.Job;

    private static readonly LearningRateSchedule s_schedule = new()
    {
        BaseLearningRate = 1e-3, BaseBatchSize = 256, Scaling = LearningRateScaling.Linear, WorldSize = 2,
        MicroBatchSize = 64, AccumulationSteps = 4, WarmupSteps = 10, Decay = LearningRateDecay.Cosine, TotalSteps = 110,
    };

    private static List<JobEvent> Drain(ChannelReader<JobEvent> reader)
    {
        var events = new List<JobEvent>();
        while (reader.TryRead(out var jobEvent))
        {
            events.Add(jobEvent);
        }
        return events;
    }

    private static CoordinatorErrorKind Refusal(Action call) => Assert.Throws<CoordinatorException>(call).Kind;

    [Fact]
    public void JobRunsWhenAllRanksJoinedFinishesWhenAllLeftAndPublishesEachStep()
    {
        using var d = DomainFixture.Create();
        var first = d.Jobs.Join(Job, 0, 2, "h", 1, null);
        Assert.Equal(new JoinResult(JobState.Pending, 1, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30)), first);
        var events = d.Jobs.Subscribe(Job, out _);
        Assert.Equal(JobState.Running, d.Jobs.Join(Job, 1, 2, "h", 2, null).State);
        // The same process retrying its join (lost reply, coordinator restart) is welcome; another process is not.
        Assert.Equal(2, d.Jobs.Join(Job, 1, 2, "h", 2, null).Joined);
        Assert.Equal(CoordinatorErrorKind.AlreadyExists, Refusal(() => d.Jobs.Join(Job, 1, 2, "h", 99, null)));

        Assert.Equal(JobState.Running, d.Jobs.Leave(Job, 0));
        Assert.Equal(JobState.Finished, d.Jobs.Leave(Job, 1));
        Assert.Equal(JobState.Finished, d.Jobs.Leave(Job, 1));

        Assert.Equal(
            [JobEventKind.Snapshot, JobEventKind.MemberJoined, JobEventKind.JobRunning, JobEventKind.MemberLeft, JobEventKind.MemberLeft, JobEventKind.JobFinished],
            Drain(events).Select(e => e.Kind));
        Assert.True(events.Completion.IsCompleted);
        Assert.Equal(CoordinatorErrorKind.FailedPrecondition, Refusal(() => d.Jobs.Join(Job, 0, 2, "h", 7, null)));
    }

    [Fact]
    public void ARanksLastStreamClosedFromItsSideCountsFromThenAndEndsWithAWatchALeaveOrTheJob()
    {
        using var d = DomainFixture.Create();
        var close = new Action<bool>[3];
        for (var rank = 0; rank < 3; rank++)
        {
            d.Jobs.Join(Job, rank, 3, $"h{rank + 1}", 100 + rank, null);
            d.Jobs.Subscribe(Job, rank, out close[rank]);
        }
        TimeSpan?[] Lost() => [.. d.Jobs.Status(Job).Members.Select(m => m.Disconnection)];

        close[2](true);
        d.Time.Advance(TimeSpan.FromMilliseconds(300));
        close[1](true);
        d.Time.Advance(TimeSpan.FromMilliseconds(100));
        // None of these moves anything: the same stream closed twice, an observer's stream, a second stream of a rank
        // that holds another (a reconnect overlapping the old stream), a stream this coordinator ended.
        close[2](true);
        d.Jobs.Subscribe(Job, out var observer);
        observer();
        d.Jobs.Subscribe(Job, 0, out var second);
        second(true);
        Assert.Equal([null, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(400)], Lost());
        close[0](false);
        Assert.Null(Lost()[0]);

        d.Jobs.Subscribe(Job, 2, out var again);
        d.Jobs.Leave(Job, 1);
        Assert.Equal([null, null, null], Lost());

        // Once the job ended nothing is shown: the ranks were told to go.
        d.Jobs.ReportFailure(Job, 2, 3, "h3", 102, "boom");
        again(true);
        Assert.Equal([null, null, null], Lost());
    }

    [Theory]
    [InlineData(4, 4, "rank 4")]
    [InlineData(-1, 4, "rank -1")]
    [InlineData(0, 0, "world size 0")]
    public void OutOfRangeRankOrWorldSizeIsInvalidArgument(int rank, int worldSize, string named)
    {
        using var d = DomainFixture.Create();
        var error = Assert.Throws<CoordinatorException>(() => d.Jobs.Join(Job, rank, worldSize, "h", 1, null));
        Assert.Equal(CoordinatorErrorKind.InvalidArgument, error.Kind);
        Assert.Contains(named, error.Message);
    }

    [Fact]
    public void WorldSizeIsTheFirstJoinsAndIdsAndRanksAreChecked()
    {
        using var d = DomainFixture.Create();
        d.Jobs.Join(Job, 0, 4, "h", 1, null);
        var error = Assert.Throws<CoordinatorException>(() => d.Jobs.Join(Job, 1, 8, "h", 2, null));
        Assert.Equal(CoordinatorErrorKind.FailedPrecondition, error.Kind);
        Assert.Contains("world size 8", error.Message);
        Assert.Equal(CoordinatorErrorKind.InvalidArgument, Refusal(() => d.Jobs.Join("../etc", 0, 1, "h", 1, null)));
        Assert.Equal(CoordinatorErrorKind.NotFound, Refusal(() => d.Jobs.Heartbeat("other", 0, 0)));
        Assert.Equal(CoordinatorErrorKind.NotFound, Refusal(() => d.Jobs.Heartbeat(Job, 3, 0)));
        Assert.Equal(CoordinatorErrorKind.InvalidArgument, Refusal(() => d.Jobs.Heartbeat(Job, 4, 0)));
    }

    [Fact]
    public void SilentRankFailsTheJobWithAReasonNamingIt()
    {
        using var d = DomainFixture.Create(heartbeatTimeout: TimeSpan.FromSeconds(30));
        d.JoinAll(3);
        var events = d.Jobs.Subscribe(Job, out _);
        d.Time.Advance(TimeSpan.FromSeconds(20));
        d.Jobs.Heartbeat(Job, 0, 5);
        d.Jobs.Heartbeat(Job, 1, 5);
        d.Time.Advance(TimeSpan.FromSeconds(10));
        // Exactly at the timeout is not past it.
        d.Jobs.CheckTimeouts();
        Assert.Equal(JobState.Running, d.Jobs.Heartbeat(Job, 0, 6).State);

        d.Time.Advance(TimeSpan.FromSeconds(2));
        d.Jobs.CheckTimeouts();

        var reply = d.Jobs.Heartbeat(Job, 0, 7);
        Assert.Equal(JobState.Failed, reply.State);
        Assert.Equal("rank 2 (test-host pid 1002) sent no heartbeat for 32.0 s (timeout 30 s)", reply.Reason);
        var published = Drain(events);
        Assert.Equal([JobEventKind.Snapshot, JobEventKind.JobFailed], published.Select(e => e.Kind));
        Assert.Equal(2, published[^1].Rank);
        Assert.Equal(JobState.Failed, published[^1].State);
        Assert.Equal(d.Time.GetUtcNow(), published[^1].Time);
        Assert.True(events.Completion.IsCompleted);
        var late = Assert.Throws<CoordinatorException>(() => d.Jobs.Join(Job, 2, 3, "test-host", 9, null));
        Assert.Equal(CoordinatorErrorKind.FailedPrecondition, late.Kind);
        Assert.Contains("rank 2", late.Message);
    }

    [Fact]
    public void JobFailedHandlersRunBeforeWatchersHearOfTheFailure()
    {
        using var d = DomainFixture.Create();
        d.JoinAll(1);
        var events = d.Jobs.Subscribe(Job, out _);
        List<JobEvent>? seenByHandler = null;
        d.Jobs.JobFailed += _ => seenByHandler = Drain(events);
        d.Time.Advance(TimeSpan.FromMinutes(1));
        d.Jobs.CheckTimeouts();
        Assert.NotNull(seenByHandler);
        Assert.DoesNotContain(seenByHandler, e => e.Kind == JobEventKind.JobFailed);
        Assert.Equal(JobEventKind.JobFailed, Assert.Single(Drain(events)).Kind);
    }

    [Fact]
    public void StatusReportsSilenceOnTheProvidersClock()
    {
        using var d = DomainFixture.Create();
        d.JoinAll(2);
        d.Time.Advance(TimeSpan.FromSeconds(5));
        d.Jobs.Heartbeat(Job, 1, 42);
        d.Time.Advance(TimeSpan.FromSeconds(2));
        d.Jobs.Leave(Job, 0);
        var status = d.Jobs.Status(Job);
        Assert.Equal(JobState.Running, status.State);
        Assert.Equal(new MemberStatus(0, "test-host", 1000, null, -1, true), status.Members[0]);
        Assert.Equal(new MemberStatus(1, "test-host", 1001, TimeSpan.FromSeconds(2), 42, false), status.Members[1]);
    }

    [Fact]
    public void OnlyRank0sScheduleIsKeptAndAnInvalidOneIsRefused()
    {
        using var d = DomainFixture.Create();
        d.Jobs.Join(Job, 1, 2, "h", 2, s_schedule with { TotalSteps = 5 });
        Assert.Equal(CoordinatorErrorKind.FailedPrecondition, Refusal(() => d.Jobs.GetSchedule(Job)));
        var invalid = Assert.Throws<CoordinatorException>(() => d.Jobs.Join(Job, 0, 2, "h", 1, s_schedule with { TotalSteps = 5 }));
        Assert.Equal(CoordinatorErrorKind.InvalidArgument, invalid.Kind);
        Assert.Contains("total steps", invalid.Message);
        d.Jobs.Join(Job, 0, 2, "h", 1, s_schedule);
        Assert.Equal(s_schedule, d.Jobs.GetSchedule(Job));
    }

    [Fact]
    public void RestartRestoresJobsFromTheStoreWithFreshDeadlines()
    {
        using var d = DomainFixture.Create(heartbeatTimeout: TimeSpan.FromSeconds(30));
        d.Jobs.Join(Job, 0, 2, "h", 1, s_schedule);
        d.Jobs.Join(Job, 1, 2, "h", 2, null);
        d.Jobs.Leave(Job, 1);
        d.Time.Advance(TimeSpan.FromSeconds(25));

        d.Restart();

        var status = d.Jobs.Status(Job);
        Assert.Equal(JobState.Running, status.State);
        Assert.Equal([false, true], status.Members.Select(m => m.Left));
        Assert.Equal(s_schedule, d.Jobs.GetSchedule(Job));
        // Silence before the restart does not count: every member gets a whole timeout from the restart on.
        d.Time.Advance(TimeSpan.FromSeconds(25));
        d.Jobs.CheckTimeouts();
        Assert.Equal(JobState.Running, d.Jobs.Status(Job).State);
        Assert.Equal(2, d.Jobs.Join(Job, 0, 2, "h", 1, null).Joined);
    }
}
