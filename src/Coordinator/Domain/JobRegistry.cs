using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Adan.Coordinator.Protocol;
using Adan.Sharded.Schedules;
using Microsoft.Extensions.Logging;

namespace Adan.Coordinator.Domain;

/// <summary>Membership of every job: join, heartbeat, leave, timeouts, and the event streams watchers read.</summary>
/// <remarks>
/// State lives in memory behind one lock per job (a heartbeat is a timestamp store, so 200 ranks never contend on
/// anything global); joins, leaves and state changes are written through to <see cref="CoordinatorStore"/> before the
/// call returns, so a restart cannot forget a member it acknowledged. Every clock read goes through the
/// <see cref="TimeProvider"/>, so tests move time instead of waiting for it.
/// </remarks>
internal sealed partial class JobRegistry
{
    private readonly ConcurrentDictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    // Job tokens by their SHA-256: the token itself is never kept, so neither memory nor the store can leak it.
    private readonly ConcurrentDictionary<string, string> _jobOfTokenHash = new(StringComparer.Ordinal);
    private readonly Lock _creation = new();
    private readonly CoordinatorStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger<JobRegistry> _logger;
    private readonly TimeSpan _jobTtl;
    private readonly int? _maxWatchStreams;
    private readonly JobLiveness _liveness;

    /// <summary>Loads the jobs the store holds; each member's heartbeat deadline starts afresh now.</summary>
    public JobRegistry(CoordinatorStore store, DomainOptions options, TimeProvider time, ILogger<JobRegistry> logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.HeartbeatTimeout, TimeSpan.Zero);
        _store = store;
        _time = time;
        _logger = logger;
        HeartbeatTimeout = options.HeartbeatTimeout;
        _jobTtl = options.JobTtl;
        _maxWatchStreams = options.MaxWatchStreamsPerJob;
        _liveness = new JobLiveness(options, time);
        CheckPeriod = TimeSpan.FromMilliseconds(Math.Max(10,
            new[] { options.HeartbeatTimeout, options.JoinTimeout, options.StallTimeout ?? TimeSpan.MaxValue }.Min().TotalMilliseconds / 10));
        var now = time.GetTimestamp();
        foreach (var job in store.LoadJobs(now, time.GetUtcNow()))
        {
            // Like the heartbeat deadlines, the join and stall clocks start afresh: the time the coordinator was down is no one's fault.
            job.Created = now;
            _jobs[job.JobId] = job;
            if (job.TokenHash is not null)
            {
                _jobOfTokenHash[job.TokenHash] = job.JobId;
            }
        }
    }


    /// <summary>
    /// Raised (outside any lock) when a job reaches FAILED and before its watchers hear of it, so open checkpoints are
    /// aborted by the time a rank reacts to JOB_FAILED.
    /// </summary>
    public event Action<string>? JobFailed;

    /// <summary>A rank silent for longer than this fails its job.</summary>
    public TimeSpan HeartbeatTimeout { get; }

    /// <summary>How often <see cref="CheckTimeouts"/> should run: a tenth of the shortest timeout, so a rule is applied at most 10% late.</summary>
    public TimeSpan CheckPeriod { get; }

    /// <summary>How often ranks heartbeat: a third of the timeout, so two lost heartbeats do not fail a job.</summary>
    public TimeSpan HeartbeatInterval => TimeSpan.FromMilliseconds(Math.Max(1, (long)HeartbeatTimeout.TotalMilliseconds / 3));

    // \z, not $: $ also matches before a final newline, which would let "x\n" through.
    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\z")]
    private static partial Regex JobIdPattern();

    /// <summary>Rejects job ids that are empty, too long or unsafe as a directory name.</summary>
    /// <exception cref="CoordinatorException">InvalidArgument naming the id and the rule.</exception>
    public static void ValidateJobId(string jobId)
    {
        if (!JobIdPattern().IsMatch(jobId))
        {
            throw CoordinatorException.InvalidArgument(
                $"invalid job id '{jobId}' (1 to 128 characters: letters, digits, '.', '_', '-', starting with a letter or digit)");
        }
    }

    /// <summary>Rejects a world size outside [1, <see cref="CoordinatorLimits.MaxWorldSize"/>].</summary>
    private static void ValidateWorldSize(string jobId, int worldSize)
    {
        if (worldSize < 1 || worldSize > CoordinatorLimits.MaxWorldSize)
        {
            throw CoordinatorException.InvalidArgument(
                $"invalid world size {worldSize} for job '{jobId}' (must be in [1, {CoordinatorLimits.MaxWorldSize}])");
        }
    }

    /// <summary>Creates a PENDING job with its own random token; only that token's SHA-256 is kept.</summary>
    /// <returns>The job's token (64 hex digits), returned once.</returns>
    /// <exception cref="CoordinatorException">InvalidArgument (id, world size), AlreadyExists (the job exists: a token is issued once).</exception>
    /// <param name="jobId">The job.</param>
    /// <param name="worldSize">Its ranks.</param>
    /// <param name="restarts">Restarts of the launch before this attempt, kept in the job's record.</param>
    public string CreateJob(string jobId, int worldSize, int restarts = 0)
    {
        ValidateJobId(jobId);
        ValidateWorldSize(jobId, worldSize);
        if (restarts < 0)
        {
            throw CoordinatorException.InvalidArgument($"invalid restarts {restarts} for job '{jobId}' (must be >= 0)");
        }
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var hash = HashToken(token);
        lock (_creation)
        {
            if (_jobs.ContainsKey(jobId))
            {
                throw CoordinatorException.AlreadyExists($"job '{jobId}' already exists (a job's token is issued once; choose another job id)");
            }
            var job = new Job(jobId, worldSize) { TokenHash = hash, Created = _time.GetTimestamp(), Restarts = restarts };
            _store.SaveJob(job);
            _jobs[jobId] = job;
            _jobOfTokenHash[hash] = jobId;
        }
        _logger.LogInformation("Job {JobId} created for {WorldSize} ranks", jobId, worldSize);
        return token;
    }

    /// <summary>The job whose token <paramref name="token"/> is, or null for no job's.</summary>
    /// <remarks>The lookup is by SHA-256 of the presented value, so its timing says nothing about any token's bytes.</remarks>
    public string? JobOfToken(string token) => _jobOfTokenHash.TryGetValue(HashToken(token), out var job) ? job : null;

    private static string HashToken(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>Adds a rank to a job, creating the job with its world size on the first join.</summary>
    /// <param name="jobId">The job.</param>
    /// <param name="rank">The joining rank, in [0, <paramref name="worldSize"/>).</param>
    /// <param name="worldSize">Ranks of the job; every rank sends the same.</param>
    /// <param name="host">Host of the rank, for diagnostics; at most <see cref="CoordinatorLimits.MaxHostBytes"/> bytes.</param>
    /// <param name="pid">Process id of the rank.</param>
    /// <param name="schedule">The job's learning-rate schedule; only rank 0's is kept (a retried join of rank 0 may replace it).</param>
    /// <param name="secretHash">
    /// SHA-256 of the rank's secret, kept with the member: every later call naming the rank must carry the secret
    /// (<see cref="RankProof"/>). Null leaves the member without a proof, like a member stored by a coordinator that
    /// predates rank secrets; the gRPC service always passes what it received, and refuses an empty hash.
    /// </param>
    /// <param name="secret">The secret itself, which a retried join of a rank that already joined must carry.</param>
    /// <exception cref="CoordinatorException">
    /// InvalidArgument (id, rank, world size, host, secret hash or schedule), FailedPrecondition (another world size, or
    /// the job ended), AlreadyExists (another process holds the rank, it left, or a repeated join lacks its secret).
    /// </exception>
    public JoinResult Join(string jobId, int rank, int worldSize, string host, int pid, LearningRateSchedule? schedule,
        string? secretHash = null, string? secret = null)
    {
        ValidateJobId(jobId);
        ValidateWorldSize(jobId, worldSize);
        if (rank < 0 || rank >= worldSize)
        {
            throw CoordinatorException.InvalidArgument($"invalid rank {rank} for job '{jobId}' (must be in [0, {worldSize}))");
        }
        host = ClientText.Bounded("host", host, CoordinatorLimits.MaxHostBytes);
        if (secretHash is not null)
        {
            RankProof.RequireWellFormedHash(secretHash);
        }
        if (rank != 0)
        {
            schedule = null;
        }
        try
        {
            schedule?.Validate();
        }
        catch (ArgumentException e)
        {
            throw CoordinatorException.InvalidArgument($"invalid learning-rate schedule: {e.Message}");
        }

        Job job;
        lock (_creation)
        {
            job = _jobs.GetOrAdd(jobId, id => new Job(id, worldSize) { Created = _time.GetTimestamp() });
        }
        lock (job.Gate)
        {
            if (job.WorldSize != worldSize)
            {
                throw CoordinatorException.FailedPrecondition(
                    $"world size {worldSize} disagrees with job '{job.JobId}', which has world size {job.WorldSize}");
            }
            if (job.IsTerminal)
            {
                throw CoordinatorException.FailedPrecondition($"job '{job.JobId}' is {job.State} and accepts no new ranks{Because(job)}");
            }
            var now = _time.GetTimestamp();
            var existing = job.Members[rank];
            if (existing is not null)
            {
                // The same process retrying a Join whose reply it lost: it proves so with its secret, never with its
                // host and pid, which Status shows to every holder of the job's token.
                if (existing.SecretHash is not null && !existing.Left && RankProof.Matches(existing, secret))
                {
                    existing.LastSeen = now;
                    SaveScheduleIfGiven(job, schedule);
                    return JoinResultFor(job);
                }
                if (existing.SecretHash is null && existing.Host == host && existing.Pid == pid && !existing.Left)
                {
                    existing.LastSeen = now;
                    SaveScheduleIfGiven(job, schedule);
                    return JoinResultFor(job);
                }
                throw CoordinatorException.AlreadyExists(
                    $"rank {rank} of job '{job.JobId}' already joined from {existing.Host} pid {existing.Pid}; a repeated Join is taken only from that process, with its rank secret");
            }
            var member = new Member(rank, host, pid, now) { SecretHash = secretHash };
            job.Members[rank] = member;
            SaveScheduleIfGiven(job, schedule);
            var running = job.JoinedCount == job.WorldSize;
            if (running)
            {
                job.State = JobState.Running;
            }
            _store.SaveJob(job);
            _store.SaveMember(job.JobId, member);
            var time = _time.GetUtcNow();
            job.Publish(job.NewEvent(JobEventKind.MemberJoined, rank, $"rank {rank} joined from {host} pid {pid}", time));
            if (running)
            {
                job.Publish(job.NewEvent(JobEventKind.JobRunning, -1, $"all {job.WorldSize} ranks joined", time));
                _logger.LogInformation("Job {JobId} running with {WorldSize} ranks", job.JobId, job.WorldSize);
            }
            return JoinResultFor(job);
        }
    }

    /// <summary>Records that a rank is alive at <paramref name="step"/>; the reply tells it whether to abort.</summary>
    /// <param name="jobId">The job.</param>
    /// <param name="rank">The rank.</param>
    /// <param name="step">Its last completed step.</param>
    /// <param name="progress">Its progress marks so far; 0 when it reports none (it is then never failed for a stall).</param>
    /// <param name="longestProgressInterval">The longest interval between two of its progress marks so far.</param>
    /// <param name="secret">The rank's secret (<see cref="RankProof"/>).</param>
    /// <exception cref="CoordinatorException">NotFound (job or rank), InvalidArgument (rank out of range), PermissionDenied (not the rank's secret).</exception>
    public JobCondition Heartbeat(string jobId, int rank, long step, long progress = 0, TimeSpan longestProgressInterval = default, string? secret = null)
    {
        var job = Find(jobId);
        lock (job.Gate)
        {
            var member = MemberOf(job, rank);
            RankProof.Require(job, member, secret, "Heartbeat");
            var now = _time.GetTimestamp();
            member.LastSeen = now;
            member.Step = step;
            if (progress != member.Progress)
            {
                member.Progress = progress;
                member.LastProgress = now;
            }
            if (longestProgressInterval > member.LongestProgressInterval)
            {
                member.LongestProgressInterval = longestProgressInterval;
            }
            return new JobCondition(job.State, job.Reason);
        }
    }

    /// <summary>
    /// A rank reports an error it cannot recover from: the first report fails the job with a reason naming the rank, its
    /// host and the message; a job that already ended keeps its state and reason. The rank need not have joined.
    /// </summary>
    /// <returns>The job's state and (first) failure reason after the report.</returns>
    /// <exception cref="CoordinatorException">
    /// InvalidArgument (id, rank, world size, host or message size), FailedPrecondition (another world size),
    /// PermissionDenied (the rank joined and this is not its secret).
    /// </exception>
    public JobCondition ReportFailure(string jobId, int rank, int worldSize, string host, int pid, string message, string? secret = null)
    {
        ValidateJobId(jobId);
        host = ClientText.Bounded("host", host, CoordinatorLimits.MaxHostBytes);
        message = ClientText.Bounded("message", message, CoordinatorLimits.MaxReasonBytes);
        if (worldSize < 1 || rank < 0 || rank >= worldSize)
        {
            throw CoordinatorException.InvalidArgument($"invalid rank {rank} or world size {worldSize} for job '{jobId}' (rank must be in [0, world size), world size >= 1)");
        }
        var job = _jobs.GetOrAdd(jobId, id => new Job(id, worldSize) { Created = _time.GetTimestamp() });
        JobEvent? failed;
        lock (job.Gate)
        {
            if (job.WorldSize != worldSize)
            {
                throw CoordinatorException.FailedPrecondition(
                    $"world size {worldSize} disagrees with job '{job.JobId}', which has world size {job.WorldSize}");
            }
            // A rank that has not joined has no secret yet: it may fail while loading its data, before its Join.
            if (job.Members[rank] is { } member)
            {
                RankProof.Require(job, member, secret, "ReportFailure");
            }
            if (job.IsTerminal)
            {
                return new JobCondition(job.State, job.Reason);
            }
            var line = string.Join(' ', message.Split(' ', StringSplitOptions.RemoveEmptyEntries));
            failed = FailLocked(job, rank, $"rank {rank} ({host} pid {pid}) failed: {(line.Length > 0 ? line : "no message")}");
        }
        PublishFailure(job, failed);
        return new JobCondition(JobState.Failed, failed.Message);
    }

    /// <summary>A rank finished cleanly; the job is FINISHED once every rank left.</summary>
    /// <returns>The job's state after the leave.</returns>
    /// <exception cref="CoordinatorException">NotFound (job or rank), InvalidArgument (rank out of range), PermissionDenied (not the rank's secret).</exception>
    public JobState Leave(string jobId, int rank, string? secret = null)
    {
        var job = Find(jobId);
        lock (job.Gate)
        {
            var member = MemberOf(job, rank);
            RankProof.Require(job, member, secret, "Leave");
            if (member.Left)
            {
                return job.State;
            }
            member.Left = true;
            _store.SaveMember(job.JobId, member);
            if (job.IsTerminal)
            {
                return job.State;
            }
            var finished = job.Members.All(m => m is { Left: true });
            var time = _time.GetUtcNow();
            if (finished)
            {
                job.End(JobState.Finished, "", time);
                _store.SaveJob(job);
            }
            job.Publish(job.NewEvent(JobEventKind.MemberLeft, rank, $"rank {rank} left", time));
            if (finished)
            {
                job.Publish(job.NewEvent(JobEventKind.JobFinished, -1, "every rank left", time));
            }
            return job.State;
        }
    }

    /// <summary>Subscribes an observer that is not a rank to a job's events (see <see cref="Subscribe(string, int, out Action{bool}, string?)"/>).</summary>
    public ChannelReader<JobEvent> Subscribe(string jobId, out Action unsubscribe)
    {
        var reader = Subscribe(jobId, -1, out var end);
        unsubscribe = () => end(false);
        return reader;
    }

    /// <summary>Subscribes to a job's events; the snapshot is queued first, under the lock, so no event is missed or reordered.</summary>
    /// <param name="jobId">The job.</param>
    /// <param name="watcherRank">The rank that watches (while it does, it counts as connected), or -1 for an observer.</param>
    /// <param name="unsubscribe">
    /// Ends the subscription; call it when the reader goes away, with true when the watcher closed the stream from its side
    /// (not this coordinator: not a stop, not the job's end). When a rank's last open stream is closed so while it is a
    /// member of a live job, its process ended or its link broke: <see cref="Status"/> shows since when, and
    /// <see cref="JobLiveness"/> fails the job if the rank is not heard from again.
    /// </param>
    /// <param name="secret">
    /// The watching rank's secret (<see cref="RankProof"/>): only then does its stream closing count as its process
    /// ending; without it the stream is an observer's.
    /// </param>
    /// <returns>The events, ending after a terminal one (at once after the snapshot if the job already ended).</returns>
    /// <exception cref="CoordinatorException">NotFound or InvalidArgument for the job id, ResourceExhausted (the job's Watch limit).</exception>
    public ChannelReader<JobEvent> Subscribe(string jobId, int watcherRank, out Action<bool> unsubscribe, string? secret = null)
    {
        var job = Find(jobId);
        // Bounded, so a watcher that stops reading costs at most this many events; Publish ends its stream instead.
        var channel = Channel.CreateBounded<JobEvent>(new BoundedChannelOptions(CoordinatorLimits.WatchBufferEvents)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        Member? watcher = null;
        var counted = false;
        lock (job.Gate)
        {
            var limit = _maxWatchStreams ?? job.WorldSize + CoordinatorLimits.ExtraWatchStreams;
            if (!job.IsTerminal && job.WatchStreams >= limit)
            {
                throw CoordinatorException.ResourceExhausted(
                    $"job '{jobId}' already has {job.WatchStreams} Watch streams, the most allowed (--max-watch-streams {limit}); close one or retry later");
            }
            channel.Writer.TryWrite(job.NewEvent(JobEventKind.Snapshot, -1, job.Reason, _time.GetUtcNow()));
            if (job.IsTerminal)
            {
                channel.Writer.TryComplete();
            }
            else
            {
                job.Watchers.Add(channel);
                job.WatchStreams++;
                counted = true;
                // Without the rank's secret the stream is an observer's: closing it says nothing about that rank.
                watcher = MemberOrNull(job, watcherRank) is { } named && (named.SecretHash is null || RankProof.Matches(named, secret)) ? named : null;
                if (watcher is not null)
                {
                    watcher.OpenWatches++;
                    watcher.Disconnected = null;
                }
            }
        }
        var ended = false;
        unsubscribe = lostByWatcher =>
        {
            lock (job.Gate)
            {
                if (ended)
                {
                    return;
                }
                ended = true;
                job.Watchers.Remove(channel);
                if (counted)
                {
                    job.WatchStreams--;
                }
                if (watcher is not null && --watcher.OpenWatches == 0 && lostByWatcher && !watcher.Left && !job.IsTerminal)
                {
                    watcher.Disconnected = _time.GetTimestamp();
                }
            }
        };
        return channel.Reader;
    }

    private static Member? MemberOrNull(Job job, int rank) => rank >= 0 && rank < job.WorldSize ? job.Members[rank] : null;

    /// <summary>
    /// Fails every live job that breaks a liveness rule (see <see cref="JobLiveness"/>): a member whose connection closed
    /// and that has not been heard from for half the heartbeat timeout (the first to close is named), a member silent past
    /// the heartbeat timeout (the longest-silent one is named), a job PENDING past the join timeout, a member without
    /// progress for the stall timeout.
    /// </summary>
    public void CheckTimeouts()
    {
        var now = _time.GetTimestamp();
        foreach (var job in _jobs.Values)
        {
            JobEvent? failed = null;
            lock (job.Gate)
            {
                if (job.IsTerminal)
                {
                    continue;
                }
                if (_liveness.Violation(job, now) is { } violation)
                {
                    failed = FailLocked(job, violation.Rank, violation.Reason);
                }
            }
            if (failed is not null)
            {
                PublishFailure(job, failed);
            }
        }
    }

    /// <summary>The stall timeout a job runs under now (configured, or adaptive from the progress its ranks reported).</summary>
    /// <exception cref="CoordinatorException">NotFound or InvalidArgument for the job id.</exception>
    public TimeSpan StallTimeout(string jobId)
    {
        var job = Find(jobId);
        lock (job.Gate)
        {
            return _liveness.StallTimeout(job);
        }
    }

    /// <summary>
    /// Marks the job FAILED and stores it; returns the event to publish once the lock is released. Not failed until
    /// stored: if the store throws, the job keeps its state (the next check or report tries again) and the error propagates.
    /// </summary>
    private JobEvent FailLocked(Job job, int rank, string reason)
    {
        var (state, previousReason, ended, failedRank) = (job.State, job.Reason, job.EndedAt, job.FailedRank);
        job.End(JobState.Failed, reason, _time.GetUtcNow());
        job.FailedRank = rank;
        try
        {
            _store.SaveJob(job);
        }
        catch
        {
            (job.State, job.Reason, job.EndedAt, job.FailedRank) = (state, previousReason, ended, failedRank);
            throw;
        }
        return job.NewEvent(JobEventKind.JobFailed, rank, reason, _time.GetUtcNow());
    }

    /// <summary>Aborts the job's open checkpoints (through <see cref="JobFailed"/>), then tells its watchers.</summary>
    private void PublishFailure(Job job, JobEvent failed)
    {
        _logger.LogWarning("Job {JobId} failed: {Reason}", job.JobId, failed.Message);
        JobFailed?.Invoke(job.JobId);
        lock (job.Gate)
        {
            job.Publish(failed);
        }
    }

    /// <summary>
    /// Forgets every job that ended at least the TTL ago, with its members, token and checkpoint rows (the checkpoint
    /// files stay: they are the record a later job resumes from).
    /// </summary>
    /// <returns>The ids of the jobs forgotten.</returns>
    public IReadOnlyList<string> ExpireJobs()
    {
        var now = _time.GetUtcNow();
        var expired = new List<string>();
        foreach (var job in _jobs.Values)
        {
            lock (job.Gate)
            {
                if (!job.IsTerminal || job.EndedAt is not { } ended || now - ended < _jobTtl)
                {
                    continue;
                }
            }
            lock (_creation)
            {
                _store.DeleteJob(job.JobId);
                _jobs.TryRemove(job.JobId, out _);
                if (job.TokenHash is not null)
                {
                    _jobOfTokenHash.TryRemove(job.TokenHash, out _);
                }
            }
            expired.Add(job.JobId);
            _logger.LogInformation("Job {JobId} expired ({Ttl} after it ended)", job.JobId, _jobTtl);
        }
        return expired;
    }

    /// <summary>The job's learning-rate schedule.</summary>
    /// <exception cref="CoordinatorException">FailedPrecondition if rank 0 joined without one; NotFound for an unknown job.</exception>
    public LearningRateSchedule GetSchedule(string jobId)
    {
        var job = Find(jobId);
        lock (job.Gate)
        {
            return job.Schedule
                ?? throw CoordinatorException.FailedPrecondition($"job '{jobId}' has no learning-rate schedule (rank 0 sets it at Join)");
        }
    }

    /// <summary>World size and state of a job, read together.</summary>
    /// <exception cref="CoordinatorException">NotFound or InvalidArgument for the job id.</exception>
    public (int WorldSize, JobState State) Describe(string jobId)
    {
        var job = Find(jobId);
        lock (job.Gate)
        {
            return (job.WorldSize, job.State);
        }
    }

    /// <summary>Whether the registry knows <paramref name="jobId"/> (it has not expired).</summary>
    public bool Exists(string jobId) => _jobs.ContainsKey(jobId);

    /// <summary>Tells a job's watchers about an event that happened elsewhere (a checkpoint commit).</summary>
    public void Publish(string jobId, JobEventKind kind, string message, long step)
    {
        var job = Find(jobId);
        lock (job.Gate)
        {
            job.Publish(job.NewEvent(kind, -1, message, _time.GetUtcNow(), step));
        }
    }

    /// <summary>A job's state and members, with how long each live member has been silent.</summary>
    /// <exception cref="CoordinatorException">NotFound or InvalidArgument for the job id.</exception>
    public JobStatus Status(string jobId)
    {
        var job = Find(jobId);
        var now = _time.GetTimestamp();
        lock (job.Gate)
        {
            var members = job.Members
                .OfType<Member>()
                .Select(m => new MemberStatus(m.Rank, m.Host, m.Pid, m.Left ? null : _time.GetElapsedTime(m.LastSeen, now), m.Step, m.Left,
                    m.Disconnected is { } lost && !m.Left && !job.IsTerminal ? _time.GetElapsedTime(lost, now) : null))
                .ToList();
            return new JobStatus(job.JobId, job.State, job.WorldSize, job.Reason, members) { Restarts = job.Restarts, FailedRank = job.FailedRank };
        }
    }

    private Job Find(string jobId)
    {
        ValidateJobId(jobId);
        return _jobs.TryGetValue(jobId, out var job) ? job : throw CoordinatorException.NotFound($"unknown job '{jobId}' (no rank has joined it)");
    }

    private static Member MemberOf(Job job, int rank)
    {
        if (rank < 0 || rank >= job.WorldSize)
        {
            throw CoordinatorException.InvalidArgument($"invalid rank {rank} for job '{job.JobId}' (must be in [0, {job.WorldSize}))");
        }
        return job.Members[rank] ?? throw CoordinatorException.NotFound($"rank {rank} has not joined job '{job.JobId}'");
    }

    private void SaveScheduleIfGiven(Job job, LearningRateSchedule? schedule)
    {
        if (schedule is not null && schedule != job.Schedule)
        {
            job.Schedule = schedule;
            _store.SaveJob(job);
        }
    }

    private JoinResult JoinResultFor(Job job) => new(job.State, job.JoinedCount, HeartbeatInterval, HeartbeatTimeout);

    private static string Because(Job job) => job.Reason.Length > 0 ? $" ({job.Reason})" : "";
}
