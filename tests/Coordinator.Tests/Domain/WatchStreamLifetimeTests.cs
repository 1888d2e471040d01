using Adan.Coordinator.Domain;
using Adan.Coordinator.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace Adan.Coordinator.Tests.Domain;

/// <summary>A Watch stream counts against its job's limit until its handler ends, not only while it receives events.</summary>
public sealed class WatchStreamLifetimeTests
{
    [Fact]
    public void StreamsDroppedForNotReadingStillCountUntilTheirHandlersEnd()
    {
        using var d = DomainFixture.Create();
        var jobs = new JobRegistry(d.Store, d.Options with { MaxWatchStreamsPerJob = 2 }, d.Time, NullLogger<JobRegistry>.Instance);
        jobs.Join(DomainFixture.Job, 0, 1, "h", 1, null);
        // Two watchers that never read: once their buffers are full, Publish drops them from the job's watchers.
        var first = jobs.Subscribe(DomainFixture.Job, -1, out var endFirst);
        _ = jobs.Subscribe(DomainFixture.Job, -1, out _);
        for (var i = 0; i <= CoordinatorLimits.WatchBufferEvents; i++)
        {
            jobs.Publish(DomainFixture.Job, JobEventKind.CheckpointCommitted, $"event {i}", i);
        }
        Assert.True(first.Completion.IsCompleted || first.Count == CoordinatorLimits.WatchBufferEvents, "the first watcher was not dropped");

        // Their handlers still run (still writing to slow clients), so a reopened stream is refused...
        var refused = Assert.Throws<CoordinatorException>(() => jobs.Subscribe(DomainFixture.Job, -1, out _));
        Assert.Equal(CoordinatorErrorKind.ResourceExhausted, refused.Kind);
        Assert.Contains("already has 2 Watch streams", refused.Message);

        // ...until one of them ends.
        endFirst(false);
        _ = jobs.Subscribe(DomainFixture.Job, -1, out _);
    }
}
