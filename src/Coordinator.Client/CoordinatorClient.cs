using Adan.Coordinator.Protocol;
using Adan.Coordinator.V1;
using Adan.Sharded.Checkpoints;
using Grpc.Core;
using Grpc.Net.Client;
using LearningRateSchedule = Adan.Sharded.Schedules.LearningRateSchedule;

namespace Adan.Coordinator.Client;

/// <summary>
/// One rank's connection to the coordinator: join, background heartbeat and watch, learning rate and checkpoint calls.
/// </summary>
/// <remarks>
/// Every call has a deadline and is retried with exponential backoff while the coordinator is Unavailable, so a
/// coordinator restart costs a pause, not the job. When the coordinator declares the job failed (seen by the watch
/// stream or a heartbeat reply), <see cref="JobFailed"/> is raised once and <see cref="JobFailedToken"/> is cancelled:
/// pass that token to anything that could block on a dead peer. The same happens when the coordinator has not answered a
/// heartbeat for longer than the heartbeat timeout it gave at Join: a rank whose coordinator is gone (killed with its
/// launcher) stops on its own instead of training for no one.
/// </remarks>
public sealed class CoordinatorClient : IAsyncDisposable
{
    private readonly CoordinatorClientOptions _options;
    private readonly GrpcChannel _channel;
    private readonly bool _ownsChannel;
    private readonly Metadata _headers;
    private readonly RetryPolicy _retry;
    private readonly Membership.MembershipClient _membership;
    private readonly V1.Schedule.ScheduleClient _schedule;
    private readonly Checkpoints.CheckpointsClient _checkpoints;
    private readonly Jobs.JobsClient _jobs;
    private readonly CancellationTokenSource _failed = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _background = [];
    private readonly ProgressMarks _progress;
    private TimeSpan _heartbeatInterval = TimeSpan.FromSeconds(10);
    private TimeSpan _heartbeatTimeout = TimeSpan.FromSeconds(HeartbeatTimeout.DefaultSeconds);
    private long _step = -1;
    private int _failureRaised;

    /// <summary>Connects over a channel of its own.</summary>
    public CoordinatorClient(CoordinatorClientOptions options)
        : this(options, CoordinatorChannel.Create(options.Address, options.TrustedCaFile), ownsChannel: true)
    {
    }

    /// <summary>Connects over a shared channel (many simulated ranks in one process); the caller disposes it.</summary>
    public CoordinatorClient(CoordinatorClientOptions options, GrpcChannel channel)
        : this(options, channel, ownsChannel: false)
    {
    }

    private CoordinatorClient(CoordinatorClientOptions options, GrpcChannel channel, bool ownsChannel)
    {
        _options = options;
        _channel = channel;
        _ownsChannel = ownsChannel;
        // A header rather than CallCredentials: those are refused on h2c, which is the loopback default.
        _headers = new Metadata { { "authorization", $"Bearer {options.Token}" } };
        _retry = new RetryPolicy(options.MaxAttempts, options.InitialBackoff, options.MaxBackoff, options.CallTimeout);
        _membership = new Membership.MembershipClient(channel);
        _schedule = new V1.Schedule.ScheduleClient(channel);
        _checkpoints = new Checkpoints.CheckpointsClient(channel);
        _jobs = new Jobs.JobsClient(channel);
        _progress = new ProgressMarks(options.Time);
    }

    /// <summary>The coordinator's address.</summary>
    public Uri Address => _options.Address;

    /// <summary>The job this client acts for.</summary>
    public string JobId => _options.JobId;

    /// <summary>Raised once, from a background thread, when the coordinator declares the job failed.</summary>
    public event EventHandler<JobFailedEventArgs>? JobFailed;

    /// <summary>Cancelled when the job fails.</summary>
    public CancellationToken JobFailedToken => _failed.Token;

    /// <summary>The failure reason, or null while the job is healthy.</summary>
    public string? FailureReason { get; private set; }

    /// <summary>Last training step reported with each heartbeat.</summary>
    public long Step
    {
        get => Interlocked.Read(ref _step);
        set => Interlocked.Exchange(ref _step, value);
    }

    /// <summary>
    /// Records a progress mark (a step done, a checkpoint save or an evaluation begun or ended), which the next heartbeat
    /// reports; a rank that makes none for the stall timeout fails its job.
    /// </summary>
    public void MarkProgress() => _progress.Mark();

    /// <summary>Joins the job; rank 0 passes the job's learning-rate schedule (ignored from other ranks).</summary>
    public async Task<JoinReply> JoinAsync(LearningRateSchedule? schedule = null, CancellationToken cancellationToken = default)
    {
        var request = new JoinRequest
        {
            JobId = _options.JobId,
            Rank = _options.Rank,
            WorldSize = _options.WorldSize,
            Host = _options.Host,
            Pid = _options.Pid,
            Schedule = schedule is null ? null : ScheduleMapping.ToMessage(schedule),
            // Both: the hash to record, the secret to prove a retry whose first attempt the coordinator took.
            RankSecretSha256 = RankSecret.Hash(_options.RankSecret),
            RankSecret = _options.RankSecret,
        };
        var reply = await _retry.RunAsync((deadline, ct) => _membership.JoinAsync(request, _headers, deadline, ct).ResponseAsync, cancellationToken);
        _heartbeatInterval = TimeSpan.FromMilliseconds(reply.HeartbeatIntervalMs);
        _heartbeatTimeout = TimeSpan.FromMilliseconds(reply.HeartbeatTimeoutMs);
        return reply;
    }

    /// <summary>Starts heartbeating (at the interval the coordinator asked for) and watching in the background.</summary>
    public void StartBackground()
    {
        _background.Add(Task.Run(() => HeartbeatLoopAsync(_stop.Token)));
        _background.Add(Task.Run(() => WatchLoopAsync(_stop.Token)));
    }

    /// <summary>Sends one heartbeat now.</summary>
    public async Task<HeartbeatReply> HeartbeatAsync(CancellationToken cancellationToken = default)
    {
        var reply = await _retry.RunAsync((deadline, ct) => _membership.HeartbeatAsync(NewHeartbeat(), _headers, deadline, ct).ResponseAsync, cancellationToken);
        OnHeartbeatReply(reply);
        return reply;
    }

    /// <summary>
    /// Tells the coordinator this rank failed, so that the job fails at once with this rank, its host and
    /// <paramref name="message"/> as the reason and every other rank hears it. One attempt, bounded by
    /// <paramref name="timeout"/>: the caller is about to exit and must not wait for a coordinator that is gone.
    /// </summary>
    /// <returns>The job's failure reason (this one, or an earlier rank's), or null when the coordinator did not answer.</returns>
    public async Task<string?> ReportFailureAsync(string message, TimeSpan timeout)
    {
        var request = new ReportFailureRequest
        {
            JobId = _options.JobId, Rank = _options.Rank, WorldSize = _options.WorldSize, Host = _options.Host, Pid = _options.Pid,
            Message = Fit(message, CoordinatorLimits.MaxReasonBytes), RankSecret = _options.RankSecret,
        };
        try
        {
            var reply = await _membership.ReportFailureAsync(request, _headers, DateTime.UtcNow + timeout).ResponseAsync.ConfigureAwait(false);
            return PrintableText.Of(reply.Reason);
        }
        catch (RpcException)
        {
            return null;
        }
    }

    /// <summary>Leaves the job cleanly and stops the background loops.</summary>
    public async Task<LeaveReply> LeaveAsync(CancellationToken cancellationToken = default)
    {
        await StopBackgroundAsync();
        var request = new LeaveRequest { JobId = _options.JobId, Rank = _options.Rank, RankSecret = _options.RankSecret };
        return await _retry.RunAsync((deadline, ct) => _membership.LeaveAsync(request, _headers, deadline, ct).ResponseAsync, cancellationToken);
    }

    /// <summary>The learning rate of a zero-based optimizer step.</summary>
    public async Task<double> LearningRateAsync(long step, CancellationToken cancellationToken = default)
    {
        var request = new LearningRateRequest { JobId = _options.JobId, Step = step };
        var reply = await _retry.RunAsync((deadline, ct) => _schedule.LearningRateAsync(request, _headers, deadline, ct).ResponseAsync, cancellationToken);
        return reply.LearningRate;
    }

    /// <summary>The job's schedule as data, to compute learning rates locally.</summary>
    public async Task<LearningRateSchedule> GetScheduleAsync(CancellationToken cancellationToken = default)
    {
        var request = new GetScheduleRequest { JobId = _options.JobId };
        var reply = await _retry.RunAsync((deadline, ct) => _schedule.GetScheduleAsync(request, _headers, deadline, ct).ResponseAsync, cancellationToken);
        return ScheduleMapping.ToSchedule(reply.Schedule);
    }

    /// <summary>Opens (or joins) the checkpoint of a step; every rank calls it and gets the same id and directory.</summary>
    /// <param name="step">Optimizer step captured.</param>
    /// <param name="checkpointRoot">Absolute root of the job's checkpoints, or null for the coordinator's default.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<CheckpointInfo> BeginCheckpointAsync(long step, string? checkpointRoot = null, CancellationToken cancellationToken = default)
    {
        var request = new BeginCheckpointRequest { JobId = _options.JobId, Step = step, CheckpointRoot = checkpointRoot ?? "" };
        return _retry.RunAsync((deadline, ct) => _checkpoints.BeginAsync(request, _headers, deadline, ct).ResponseAsync, cancellationToken);
    }

    /// <summary>Reports this rank's shard, written (and fsynced) under the checkpoint directory.</summary>
    /// <param name="checkpointId">From <see cref="BeginCheckpointAsync"/>.</param>
    /// <param name="file">File name relative to the checkpoint directory.</param>
    /// <param name="bytes">File size.</param>
    /// <param name="sha256">SHA-256 of the file as 64 lowercase hex digits.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<ReportShardReply> ReportShardAsync(long checkpointId, string file, long bytes, string sha256, CancellationToken cancellationToken = default)
    {
        var request = new ReportShardRequest
        {
            JobId = _options.JobId,
            CheckpointId = checkpointId,
            Shard = new ShardInfo { Rank = _options.Rank, File = file, Bytes = bytes, Sha256 = sha256 },
        };
        return _retry.RunAsync((deadline, ct) => _checkpoints.ReportShardAsync(request, _headers, deadline, ct).ResponseAsync, cancellationToken);
    }

    /// <summary>
    /// Commits a checkpoint once every rank reported: the coordinator checks the manifest against its catalogue, sets
    /// the shard list from the reports it received and commits through <see cref="CheckpointCommit"/>.
    /// </summary>
    /// <param name="checkpointId">From <see cref="BeginCheckpointAsync"/>.</param>
    /// <param name="manifest">The typed manifest; its shards may be empty (the coordinator has them) or must match the reports.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <remarks>
    /// Each attempt has its own deadline, and an attempt that ran out of it is retried like an unreachable
    /// coordinator: a commit is idempotent (the same manifest again returns the committed checkpoint), so a commit
    /// that finished after its deadline is not mistaken for a failure.
    /// </remarks>
    public Task<CheckpointInfo> CommitCheckpointAsync(long checkpointId, CheckpointManifest manifest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var request = new CommitCheckpointRequest { JobId = _options.JobId, CheckpointId = checkpointId, ManifestJson = manifest.ToJson() };
        return _retry.RunAsync((deadline, ct) => _checkpoints.CommitAsync(request, _headers, deadline, ct).ResponseAsync, cancellationToken,
            retryDeadlineExceeded: true);
    }

    /// <summary>Abandons an open checkpoint; the previous one stays the latest.</summary>
    public Task<CheckpointInfo> AbortCheckpointAsync(long checkpointId, string reason, CancellationToken cancellationToken = default)
    {
        var request = new AbortCheckpointRequest { JobId = _options.JobId, CheckpointId = checkpointId, Reason = Fit(reason, CoordinatorLimits.MaxReasonBytes) };
        return _retry.RunAsync((deadline, ct) => _checkpoints.AbortAsync(request, _headers, deadline, ct).ResponseAsync, cancellationToken);
    }

    /// <summary>The newest committed checkpoint, or null.</summary>
    public async Task<CheckpointInfo?> LatestCheckpointAsync(CancellationToken cancellationToken = default)
    {
        var request = new LatestCheckpointRequest { JobId = _options.JobId };
        var reply = await _retry.RunAsync((deadline, ct) => _checkpoints.LatestAsync(request, _headers, deadline, ct).ResponseAsync, cancellationToken);
        return reply.Checkpoint;
    }

    /// <summary>Every checkpoint of the job, oldest first.</summary>
    public async Task<IReadOnlyList<CheckpointInfo>> ListCheckpointsAsync(CancellationToken cancellationToken = default)
    {
        var request = new ListCheckpointsRequest { JobId = _options.JobId };
        var reply = await _retry.RunAsync((deadline, ct) => _checkpoints.ListAsync(request, _headers, deadline, ct).ResponseAsync, cancellationToken);
        return reply.Checkpoints;
    }

    /// <summary>The job's state and members.</summary>
    public Task<JobStatusReply> StatusAsync(CancellationToken cancellationToken = default)
    {
        var request = new JobStatusRequest { JobId = _options.JobId };
        return _retry.RunAsync((deadline, ct) => _jobs.StatusAsync(request, _headers, deadline, ct).ResponseAsync, cancellationToken);
    }

    /// <summary>
    /// Creates a job on the coordinator with the operator token and returns the job's own token, which its ranks then
    /// use (a job token can act on its job only).
    /// </summary>
    /// <param name="channel">A channel to the coordinator.</param>
    /// <param name="operatorToken">The token the coordinator was started with.</param>
    /// <param name="jobId">The new job's id.</param>
    /// <param name="worldSize">Its number of ranks.</param>
    /// <param name="callTimeout">Deadline of the call.</param>
    /// <param name="restarts">Restarts of the launch before this attempt, recorded with the job (elastic restart).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="RpcException">The coordinator refused (wrong token, job exists) or could not be reached.</exception>
    public static async Task<string> CreateJobAsync(GrpcChannel channel, string operatorToken, string jobId, int worldSize, TimeSpan callTimeout,
        int restarts = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(channel);
        var headers = new Metadata { { "authorization", $"Bearer {operatorToken}" } };
        var reply = await new Jobs.JobsClient(channel).CreateAsync(
            new CreateJobRequest { JobId = jobId, WorldSize = worldSize, Restarts = restarts }, headers, DateTime.UtcNow + callTimeout, cancellationToken);
        return reply.JobToken;
    }

    /// <summary>Stops the background loops and, if owned, closes the channel.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopBackgroundAsync();
        _stop.Dispose();
        _failed.Dispose();
        if (_ownsChannel)
        {
            _channel.Dispose();
        }
    }

    private async Task StopBackgroundAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync();
        }
        try
        {
            await Task.WhenAll(_background);
        }
        catch (OperationCanceledException)
        {
            // Expected: the loops end by cancellation.
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled)
        {
            // The same, met inside a call: a heartbeat or Watch in flight when the stop came ends as CANCELLED.
        }
        _background.Clear();
    }

    /// <summary>
    /// One heartbeat per interval, each a single attempt bounded by the interval (the next heartbeat is the retry), until
    /// the coordinator has not answered for longer than the heartbeat timeout: then the job counts as failed here.
    /// </summary>
    /// <remarks>
    /// A coordinator restarted within the timeout costs nothing (it reloads the job and gives every member a whole
    /// timeout); one gone for longer would fail the job itself, were it there to do so.
    /// </remarks>
    private async Task HeartbeatLoopAsync(CancellationToken stop)
    {
        var time = _options.Time;
        var lastAnswer = time.GetTimestamp();
        while (!stop.IsCancellationRequested && FailureReason is null)
        {
            try
            {
                var reply = await _membership.HeartbeatAsync(NewHeartbeat(), _headers, DateTime.UtcNow + _heartbeatInterval, stop);
                lastAnswer = time.GetTimestamp();
                OnHeartbeatReply(reply);
            }
            catch (RpcException) when (!stop.IsCancellationRequested)
            {
                // Unreachable, restarting, too slow, or refusing this rank (a coordinator that lost the job): all the same here.
                var silence = time.GetElapsedTime(lastAnswer);
                if (silence > _heartbeatTimeout)
                {
                    RaiseFailure(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"the coordinator at {_options.Address} has not answered for {silence.TotalSeconds:F1} s (heartbeat timeout {_heartbeatTimeout.TotalSeconds:G} s)"));
                    return;
                }
            }
            await Task.Delay(_heartbeatInterval, time, stop);
        }
    }

    private HeartbeatRequest NewHeartbeat() => new()
    {
        JobId = _options.JobId,
        Rank = _options.Rank,
        Step = Step,
        Progress = _progress.Count,
        LongestProgressIntervalMs = (long)_progress.LongestInterval.TotalMilliseconds,
        RankSecret = _options.RankSecret,
    };

    private void OnHeartbeatReply(HeartbeatReply reply)
    {
        if (reply.State == JobState.Failed)
        {
            RaiseFailure(reply.Reason);
        }
    }

    private async Task WatchLoopAsync(CancellationToken stop)
    {
        var backoff = _options.InitialBackoff;
        while (!stop.IsCancellationRequested && FailureReason is null)
        {
            try
            {
                using var call = _membership.Watch(new WatchRequest { JobId = _options.JobId, Rank = _options.Rank, RankSecret = _options.RankSecret }, _headers, cancellationToken: stop);
                await foreach (var jobEvent in call.ResponseStream.ReadAllAsync(stop))
                {
                    backoff = _options.InitialBackoff;
                    if (jobEvent.State == JobState.Failed)
                    {
                        RaiseFailure(jobEvent.Message.Length > 0 ? jobEvent.Message : "job failed");
                        return;
                    }
                    if (jobEvent.State == JobState.Finished)
                    {
                        return;
                    }
                }
            }
            catch (RpcException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException)
            {
                // Coordinator restarting: reconnect; the snapshot event of the new stream restores the state.
            }
            await Task.Delay(backoff, stop);
            backoff = TimeSpan.FromTicks(Math.Min(_options.MaxBackoff.Ticks, backoff.Ticks * 2));
        }
    }

    /// <summary>
    /// <paramref name="text"/> cut to at most <paramref name="maxBytes"/> UTF-8 bytes (ending in "…" when cut), so that a
    /// long exception message still reaches the coordinator, which refuses a longer one.
    /// </summary>
    private static string Fit(string text, int maxBytes)
    {
        if (System.Text.Encoding.UTF8.GetByteCount(text) <= maxBytes)
        {
            return text;
        }
        const string ellipsis = "…";
        var budget = maxBytes - System.Text.Encoding.UTF8.GetByteCount(ellipsis);
        var length = 0;
        var bytes = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            if (bytes + rune.Utf8SequenceLength > budget)
            {
                break;
            }
            bytes += rune.Utf8SequenceLength;
            length += rune.Utf16SequenceLength;
        }
        return text[..length] + ellipsis;
    }

    private void RaiseFailure(string reason)
    {
        if (Interlocked.Exchange(ref _failureRaised, 1) != 0)
        {
            return;
        }
        // Served text ends up on a terminal: no escape sequence or forged line from whoever wrote it.
        FailureReason = PrintableText.Of(reason);
        _failed.Cancel();
        JobFailed?.Invoke(this, new JobFailedEventArgs(FailureReason));
    }
}
