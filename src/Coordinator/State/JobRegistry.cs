using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Adan.Coordinator.Hosting;
using Adan.Coordinator.Protocol;
using Adan.Coordinator.V1;
using LearningRateSchedule = Adan.Sharded.Schedules.LearningRateSchedule;
using Microsoft.Extensions.Logging;

namespace Adan.Coordinator.State;

/// <summary>Membership of every job: join, heartbeat, leave, timeouts, and the event streams watchers read.</summary>
/// <remarks>
/// State lives in memory behind one lock per job (a heartbeat is a timestamp store, so 200 ranks never contend on
/// anything global); joins, leaves and state changes are written through to <see cref="CoordinatorStore"/> before the
/// call returns, so a restart cannot forget a member it acknowledged.
/// </remarks>
internal sealed partial class JobRegistry
{
    private readonly ConcurrentDictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    private readonly CoordinatorStore _store;
    private readonly ILogger<JobRegistry> _logger;

    public JobRegistry(CoordinatorStore store, CoordinatorOptions options, ILogger<JobRegistry> logger)
    {
        _store = store;
        _logger = logger;
        HeartbeatTimeout = options.HeartbeatTimeout;
        foreach (var job in store.LoadJobs(Environment.TickCount64))
        {
            _jobs[job.JobId] = job;
        }
    }

    /// <summary>Raised (outside any lock) when a job reaches FAILED, so open checkpoints can be aborted.</summary>
    public event Action<string>? JobFailed;

    public TimeSpan HeartbeatTimeout { get; }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex JobIdPattern();

    /// <summary>Rejects job ids that are empty, too long or unsafe as a directory name.</summary>
    public static void ValidateJobId(string jobId)
    {
        if (!JobIdPattern().IsMatch(jobId))
        {
            throw Errors.InvalidArgument(
                $"invalid job id '{jobId}' (1 to 128 characters: letters, digits, '.', '_', '-', starting with a letter or digit)");
        }
    }

    public JoinReply Join(JoinRequest request)
    {
        ValidateJobId(request.JobId);
        if (request.WorldSize < 1)
        {
            throw Errors.InvalidArgument($"invalid world size {request.WorldSize} for job '{request.JobId}' (must be >= 1)");
        }
        if (request.Rank < 0 || request.Rank >= request.WorldSize)
        {
            throw Errors.InvalidArgument($"invalid rank {request.Rank} for job '{request.JobId}' (must be in [0, {request.WorldSize}))");
        }
        LearningRateSchedule? schedule = null;
        if (request.Rank == 0 && request.Schedule is not null)
        {
            try
            {
                schedule = ScheduleMapping.ToSchedule(request.Schedule);
                schedule.Validate();
            }
            catch (ArgumentException e)
            {
                throw Errors.InvalidArgument($"invalid learning-rate schedule: {e.Message}");
            }
        }

        var job = _jobs.GetOrAdd(request.JobId, id => new Job(id, request.WorldSize));
        lock (job.Gate)
        {
            if (job.WorldSize != request.WorldSize)
            {
                throw Errors.FailedPrecondition(
                    $"world size {request.WorldSize} disagrees with job '{job.JobId}', which has world size {job.WorldSize}");
            }
            if (job.IsTerminal)
            {
                throw Errors.FailedPrecondition($"job '{job.JobId}' is {job.State} and accepts no new ranks{Because(job)}");
            }
            var now = Environment.TickCount64;
            var existing = job.Members[request.Rank];
            if (existing is not null)
            {
                // The same process retrying a Join whose reply it lost (or reconnecting after a coordinator restart).
                if (existing.Host == request.Host && existing.Pid == request.Pid && !existing.Left)
                {
                    existing.LastSeen = now;
                    SaveScheduleIfGiven(job, schedule);
                    return JoinReplyFor(job);
                }
                throw Errors.AlreadyExists(
                    $"rank {request.Rank} of job '{job.JobId}' already joined from {existing.Host} pid {existing.Pid}");
            }
            var member = new Member(request.Rank, request.Host, request.Pid, now);
            job.Members[request.Rank] = member;
            SaveScheduleIfGiven(job, schedule);
            var running = job.JoinedCount == job.WorldSize;
            if (running)
            {
                job.State = JobState.Running;
            }
            _store.SaveJob(job);
            _store.SaveMember(job.JobId, member);
            job.Publish(job.NewEvent(JobEventKind.MemberJoined, request.Rank, $"rank {request.Rank} joined from {request.Host} pid {request.Pid}"));
            if (running)
            {
                job.Publish(job.NewEvent(JobEventKind.JobRunning, -1, $"all {job.WorldSize} ranks joined"));
                _logger.LogInformation("Job {JobId} running with {WorldSize} ranks", job.JobId, job.WorldSize);
            }
            return JoinReplyFor(job);
        }
    }

    public HeartbeatReply Heartbeat(HeartbeatRequest request)
    {
        var job = Find(request.JobId);
        lock (job.Gate)
        {
            var member = MemberOf(job, request.Rank);
            member.LastSeen = Environment.TickCount64;
            member.Step = request.Step;
            return new HeartbeatReply { State = job.State, Reason = job.Reason };
        }
    }

    public LeaveReply Leave(LeaveRequest request)
    {
        var job = Find(request.JobId);
        lock (job.Gate)
        {
            var member = MemberOf(job, request.Rank);
            if (member.Left)
            {
                return new LeaveReply { State = job.State };
            }
            member.Left = true;
            _store.SaveMember(job.JobId, member);
            if (job.IsTerminal)
            {
                return new LeaveReply { State = job.State };
            }
            var finished = job.Members.All(m => m is { Left: true });
            if (finished)
            {
                job.State = JobState.Finished;
                _store.SaveJob(job);
            }
            job.Publish(job.NewEvent(JobEventKind.MemberLeft, request.Rank, $"rank {request.Rank} left"));
            if (finished)
            {
                job.Publish(job.NewEvent(JobEventKind.JobFinished, -1, "every rank left"));
            }
            return new LeaveReply { State = job.State };
        }
    }

    /// <summary>Subscribes to a job's events; the snapshot is queued first, under the lock, so no event is missed or reordered.</summary>
    public ChannelReader<JobEvent> Subscribe(string jobId, out Action unsubscribe)
    {
        var job = Find(jobId);
        var channel = Channel.CreateUnbounded<JobEvent>(new UnboundedChannelOptions { SingleReader = true });
        lock (job.Gate)
        {
            channel.Writer.TryWrite(job.NewEvent(JobEventKind.Snapshot, -1, job.Reason));
            if (job.IsTerminal)
            {
                channel.Writer.TryComplete();
            }
            else
            {
                job.Watchers.Add(channel);
            }
        }
        unsubscribe = () =>
        {
            lock (job.Gate)
            {
                job.Watchers.Remove(channel);
            }
        };
        return channel.Reader;
    }

    /// <summary>Fails every live job with a member silent for longer than the timeout.</summary>
    public void CheckTimeouts()
    {
        var now = Environment.TickCount64;
        var timeoutMs = (long)HeartbeatTimeout.TotalMilliseconds;
        foreach (var job in _jobs.Values)
        {
            string? failure = null;
            lock (job.Gate)
            {
                if (job.IsTerminal)
                {
                    continue;
                }
                var silent = job.Members
                    .Where(m => m is { Left: false } && now - m.LastSeen > timeoutMs)
                    .OrderByDescending(m => now - m!.LastSeen)
                    .FirstOrDefault();
                if (silent is not null)
                {
                    failure = $"rank {silent.Rank} ({silent.Host} pid {silent.Pid}) sent no heartbeat for "
                        + $"{(now - silent.LastSeen) / 1000.0:F1} s (timeout {HeartbeatTimeout.TotalSeconds:G} s)";
                    job.State = JobState.Failed;
                    job.Reason = failure;
                    _store.SaveJob(job);
                    job.Publish(job.NewEvent(JobEventKind.JobFailed, silent.Rank, failure));
                }
            }
            if (failure is not null)
            {
                _logger.LogWarning("Job {JobId} failed: {Reason}", job.JobId, failure);
                JobFailed?.Invoke(job.JobId);
            }
        }
    }

    /// <summary>The job's schedule; FAILED_PRECONDITION if rank 0 joined without one.</summary>
    public LearningRateSchedule GetSchedule(string jobId)
    {
        var job = Find(jobId);
        lock (job.Gate)
        {
            return job.Schedule
                ?? throw Errors.FailedPrecondition($"job '{jobId}' has no learning-rate schedule (rank 0 sets it at Join)");
        }
    }

    /// <summary>World size and state of a job, read together.</summary>
    public (int WorldSize, JobState State) Describe(string jobId)
    {
        var job = Find(jobId);
        lock (job.Gate)
        {
            return (job.WorldSize, job.State);
        }
    }

    /// <summary>Tells a job's watchers about an event that happened elsewhere (a checkpoint commit).</summary>
    public void Publish(string jobId, JobEventKind kind, string message, long step)
    {
        var job = Find(jobId);
        lock (job.Gate)
        {
            job.Publish(job.NewEvent(kind, -1, message, step));
        }
    }

    public JobStatusReply Status(string jobId)
    {
        var job = Find(jobId);
        var now = Environment.TickCount64;
        lock (job.Gate)
        {
            var reply = new JobStatusReply
            {
                JobId = job.JobId,
                State = job.State,
                WorldSize = job.WorldSize,
                Reason = job.Reason,
                LatestCheckpointStep = -1,
            };
            foreach (var member in job.Members.OfType<Member>())
            {
                reply.Members.Add(new MemberStatus
                {
                    Rank = member.Rank,
                    Host = member.Host,
                    Pid = member.Pid,
                    SilentMs = member.Left ? -1 : now - member.LastSeen,
                    Step = member.Step,
                    Left = member.Left,
                });
            }
            return reply;
        }
    }

    private Job Find(string jobId)
    {
        ValidateJobId(jobId);
        return _jobs.TryGetValue(jobId, out var job) ? job : throw Errors.NotFound($"unknown job '{jobId}' (no rank has joined it)");
    }

    private static Member MemberOf(Job job, int rank)
    {
        if (rank < 0 || rank >= job.WorldSize)
        {
            throw Errors.InvalidArgument($"invalid rank {rank} for job '{job.JobId}' (must be in [0, {job.WorldSize}))");
        }
        return job.Members[rank] ?? throw Errors.NotFound($"rank {rank} has not joined job '{job.JobId}'");
    }

    private void SaveScheduleIfGiven(Job job, LearningRateSchedule? schedule)
    {
        if (schedule is not null && schedule != job.Schedule)
        {
            job.Schedule = schedule;
            _store.SaveJob(job);
        }
    }

    private JoinReply JoinReplyFor(Job job) => new()
    {
        State = job.State,
        Joined = job.JoinedCount,
        HeartbeatIntervalMs = Math.Max(1, (long)HeartbeatTimeout.TotalMilliseconds / 3),
        HeartbeatTimeoutMs = (long)HeartbeatTimeout.TotalMilliseconds,
    };

    private static string Because(Job job) => job.Reason.Length > 0 ? $" ({job.Reason})" : "";
}
