using System.Text.RegularExpressions;
using Adan.Coordinator.Hosting;
using Adan.Coordinator.V1;
using Adan.Sharded.Checkpoints;
using Microsoft.Extensions.Logging;

namespace Adan.Coordinator.State;

/// <summary>
/// The two-phase checkpoint commit: Begin, one shard report per rank, Commit (through <see cref="CheckpointCommit"/>, the same path as the local catalogue), and
/// keep-last-K retention.
/// </summary>
/// <remarks>
/// One lock serialises every checkpoint operation: they are rare (one per checkpoint per rank) and serialising them
/// makes "all shards in, then manifest, then COMMITTED" trivially race-free. The catalogue row turns COMMITTED only
/// after manifest.json is durable, so Latest never returns a checkpoint whose manifest could be missing; a crash
/// in between leaves the row OPEN and the previous checkpoint latest. Retention marks rows DELETED under the lock
/// and deletes their directories in the background (<see cref="CheckpointRetention"/>), so a commit, and the rank 0
/// waiting for it, never waits for hundreds of MB to be freed.
/// </remarks>
internal sealed partial class CheckpointCatalog : IDisposable
{
    /// <summary>Name of the commit record in every checkpoint directory.</summary>
    public const string ManifestFileName = CheckpointManifest.FileName;

    private readonly Lock _gate = new();
    private readonly CoordinatorStore _store;
    private readonly JobRegistry _jobs;
    private readonly CoordinatorOptions _options;
    private readonly ILogger<CheckpointCatalog> _logger;
    private readonly CheckpointRetention? _retention;

    public CheckpointCatalog(CoordinatorStore store, JobRegistry jobs, CoordinatorOptions options, ILogger<CheckpointCatalog> logger)
    {
        _store = store;
        _jobs = jobs;
        _options = options;
        _logger = logger;
        _retention = options.KeepLast > 0
            ? new CheckpointRetention(options.KeepLast, (directory, e) => _logger.LogWarning("Retention could not delete '{Directory}': {Message}", directory, e.Message))
            : null;
        _jobs.JobFailed += AbortOpen;
    }

    /// <summary>Completes when the directories retention queued so far are deleted.</summary>
    public Task WhenRetentionDone() => _retention?.WhenDone() ?? Task.CompletedTask;

    /// <summary>Waits for retention's queued deletions (the host disposes the catalogue when it stops).</summary>
    public void Dispose() => _retention?.Dispose();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Pattern();

    public CheckpointInfo Begin(BeginCheckpointRequest request)
    {
        var (worldSize, state) = _jobs.Describe(request.JobId);
        if (request.Step < 0)
        {
            throw Errors.InvalidArgument($"invalid checkpoint step {request.Step} (must be >= 0)");
        }
        if (state != JobState.Running)
        {
            throw Errors.FailedPrecondition($"job '{request.JobId}' is {state}; checkpoints need a RUNNING job");
        }
        string root;
        if (request.CheckpointRoot.Length > 0)
        {
            if (!Path.IsPathFullyQualified(request.CheckpointRoot))
            {
                throw Errors.InvalidArgument($"invalid checkpoint root '{request.CheckpointRoot}' (must be an absolute path)");
            }
            root = Path.GetFullPath(request.CheckpointRoot);
        }
        else
        {
            root = Path.Combine(_options.EffectiveCheckpointRoot, request.JobId);
        }
        var directory = CheckpointFiles.StepDirectory(root, request.Step);
        lock (_gate)
        {
            var sameStep = CheckpointsOnDisk(request.JobId).Where(c => c.Step == request.Step).ToList();
            if (sameStep.Any(c => c.State == CheckpointState.Committed))
            {
                throw Errors.AlreadyExists($"step {request.Step} of job '{request.JobId}' is already committed");
            }
            // Every rank calls Begin: they all get the one open checkpoint, so no rank has to broadcast its id.
            var open = sameStep.FirstOrDefault(c => c.State == CheckpointState.Open);
            if (open is not null)
            {
                return open;
            }
            if (CheckpointFiles.IsCommitted(directory))
            {
                // Committed by another run (or another coordinator) in the same root: the files are the record.
                throw Errors.AlreadyExists($"'{directory}' already holds a committed checkpoint ({ManifestFileName}); a committed checkpoint is never overwritten");
            }
            try
            {
                Directory.CreateDirectory(directory);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Errors.FailedPrecondition($"cannot create checkpoint directory '{directory}': {e.Message}");
            }
            var id = _store.InsertCheckpoint(request.JobId, request.Step, directory, worldSize);
            return _store.GetCheckpoint(id)!;
        }
    }

    public ReportShardReply ReportShard(ReportShardRequest request)
    {
        var shard = request.Shard ?? throw Errors.InvalidArgument("missing shard");
        lock (_gate)
        {
            var checkpoint = FindOpenOrCommitted(request.JobId, request.CheckpointId);
            if (shard.Rank < 0 || shard.Rank >= checkpoint.WorldSize)
            {
                throw Errors.InvalidArgument($"invalid shard rank {shard.Rank} (must be in [0, {checkpoint.WorldSize}))");
            }
            ValidateFileName(shard.File);
            if (shard.Bytes < 0)
            {
                throw Errors.InvalidArgument($"invalid shard size {shard.Bytes} bytes for rank {shard.Rank} (must be >= 0)");
            }
            if (!Sha256Pattern().IsMatch(shard.Sha256))
            {
                throw Errors.InvalidArgument($"invalid sha256 '{shard.Sha256}' for rank {shard.Rank} (expected 64 lowercase hex digits)");
            }
            var previous = checkpoint.Shards.FirstOrDefault(s => s.Rank == shard.Rank);
            if (previous is not null)
            {
                // A retried report is harmless; a different one means two writers for one shard.
                if (!previous.Equals(shard))
                {
                    throw Errors.AlreadyExists(
                        $"rank {shard.Rank} already reported '{previous.File}' ({previous.Bytes} bytes, sha256 {previous.Sha256}) for checkpoint {checkpoint.CheckpointId}");
                }
                return new ReportShardReply { ShardsReceived = checkpoint.Shards.Count, WorldSize = checkpoint.WorldSize };
            }
            if (checkpoint.State != CheckpointState.Open)
            {
                throw Errors.FailedPrecondition($"checkpoint {checkpoint.CheckpointId} is {checkpoint.State} and takes no new shards");
            }
            _store.SaveShard(checkpoint.CheckpointId, shard);
            return new ReportShardReply { ShardsReceived = checkpoint.Shards.Count + 1, WorldSize = checkpoint.WorldSize };
        }
    }

    public CheckpointInfo Commit(CommitCheckpointRequest request)
    {
        CheckpointInfo committed;
        lock (_gate)
        {
            var checkpoint = FindOpenOrCommitted(request.JobId, request.CheckpointId);
            if (checkpoint.State == CheckpointState.Committed)
            {
                return checkpoint;
            }
            var missing = Enumerable.Range(0, checkpoint.WorldSize).Except(checkpoint.Shards.Select(s => s.Rank)).ToList();
            if (missing.Count > 0)
            {
                throw Errors.FailedPrecondition(
                    $"checkpoint {checkpoint.CheckpointId} has {checkpoint.Shards.Count} of {checkpoint.WorldSize} shards; missing ranks {string.Join(", ", missing.Take(16))}{(missing.Count > 16 ? ", ..." : "")}");
            }
            var manifest = ParseManifest(checkpoint, request.ManifestJson);
            string manifestPath;
            try
            {
                manifestPath = CheckpointCommit.Commit(checkpoint.Directory, manifest);
            }
            catch (CheckpointException e)
            {
                throw Errors.FailedPrecondition(e.Message);
            }
            catch (IOException e)
            {
                throw Errors.Internal($"cannot commit checkpoint {checkpoint.CheckpointId} in '{checkpoint.Directory}': {e.Message}");
            }
            _store.SetCheckpointState(checkpoint.CheckpointId, CheckpointState.Committed, manifestPath, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            committed = _store.GetCheckpoint(checkpoint.CheckpointId)!;
            ApplyRetention(request.JobId, checkpoint.Directory);
        }
        _jobs.Publish(request.JobId, JobEventKind.CheckpointCommitted, $"checkpoint {committed.CheckpointId} of step {committed.Step} committed", committed.Step);
        return committed;
    }

    public CheckpointInfo Abort(AbortCheckpointRequest request)
    {
        lock (_gate)
        {
            var checkpoint = Find(request.JobId, request.CheckpointId);
            if (checkpoint.State is CheckpointState.Committed or CheckpointState.Deleted)
            {
                throw Errors.FailedPrecondition($"checkpoint {checkpoint.CheckpointId} is {checkpoint.State}; only an open checkpoint can be aborted");
            }
            if (checkpoint.State == CheckpointState.Open)
            {
                _store.SetCheckpointState(checkpoint.CheckpointId, CheckpointState.Aborted);
                _logger.LogWarning("Checkpoint {Id} of job {JobId} aborted: {Reason}", checkpoint.CheckpointId, request.JobId, request.Reason);
            }
            return _store.GetCheckpoint(checkpoint.CheckpointId)!;
        }
    }

    /// <summary>The committed checkpoint with the highest step, or null.</summary>
    public CheckpointInfo? Latest(string jobId)
    {
        _ = _jobs.Describe(jobId);
        lock (_gate)
        {
            return CheckpointsOnDisk(jobId).LastOrDefault(c => c.State == CheckpointState.Committed);
        }
    }

    public List<CheckpointInfo> List(string jobId)
    {
        _ = _jobs.Describe(jobId);
        lock (_gate)
        {
            return CheckpointsOnDisk(jobId);
        }
    }

    /// <summary>
    /// The job's checkpoints, after marking DELETED the committed ones whose manifest is gone: the files are the record,
    /// and the job's own retention (or a person) may delete checkpoints this catalogue still lists.
    /// </summary>
    private List<CheckpointInfo> CheckpointsOnDisk(string jobId)
    {
        var checkpoints = _store.GetCheckpoints(jobId);
        var gone = checkpoints.Where(c => c.State == CheckpointState.Committed && !File.Exists(c.ManifestPath)).ToList();
        foreach (var c in gone)
        {
            _store.SetCheckpointState(c.CheckpointId, CheckpointState.Deleted, c.ManifestPath, c.CommittedUnixTimeMs);
        }
        return gone.Count == 0 ? checkpoints : _store.GetCheckpoints(jobId);
    }

    private void AbortOpen(string jobId)
    {
        lock (_gate)
        {
            foreach (var checkpoint in _store.GetCheckpoints(jobId).Where(c => c.State == CheckpointState.Open))
            {
                _store.SetCheckpointState(checkpoint.CheckpointId, CheckpointState.Aborted);
            }
        }
    }

    /// <summary>Deletes (in the background) committed checkpoints beyond the newest K; never the newest, never an open or aborted one.</summary>
    private void ApplyRetention(string jobId, string directory)
    {
        if (_retention is null)
        {
            return;
        }
        var root = Path.GetDirectoryName(directory) ?? directory;
        var open = _store.GetCheckpoints(jobId).Where(c => c.State == CheckpointState.Open).Select(c => c.Directory).ToHashSet(StringComparer.Ordinal);
        var doomed = _retention.Apply(root, open).ToHashSet(StringComparer.Ordinal);
        foreach (var old in _store.GetCheckpoints(jobId).Where(c => c.State == CheckpointState.Committed && doomed.Contains(c.Directory)))
        {
            // The deleter removes the manifest first, so the row and the files agree even if a deletion is cut short.
            _store.SetCheckpointState(old.CheckpointId, CheckpointState.Deleted, old.ManifestPath, old.CommittedUnixTimeMs);
        }
    }

    /// <summary>
    /// The typed manifest rank 0 sent, stamped with the catalogue's job and checkpoint id and the shards reported to
    /// it; <c>step</c>, <c>world_size</c> and any shards the client listed must agree with the catalogue.
    /// </summary>
    private static CheckpointManifest ParseManifest(CheckpointInfo checkpoint, string body)
    {
        CheckpointManifest manifest;
        try
        {
            manifest = CheckpointManifest.Parse(body, $"the manifest of checkpoint {checkpoint.CheckpointId}");
        }
        catch (CheckpointException e)
        {
            throw Errors.InvalidArgument(e.Message);
        }
        var reported = checkpoint.Shards.Select(s => new CheckpointShard(s.Rank, s.File, s.Bytes, s.Sha256)).OrderBy(s => s.Rank).ToArray();
        Check("step", manifest.Step, checkpoint.Step);
        Check("world_size", manifest.WorldSize, checkpoint.WorldSize);
        if (manifest.Shards.Length > 0 && !manifest.Shards.SequenceEqual(reported))
        {
            throw Errors.InvalidArgument($"manifest field 'shards' does not match the {reported.Length} shard(s) reported for checkpoint {checkpoint.CheckpointId}");
        }
        if (manifest.JobId is { } jobId && jobId != checkpoint.JobId)
        {
            throw Errors.InvalidArgument($"manifest field 'job_id' is '{jobId}' but the coordinator has '{checkpoint.JobId}'");
        }
        if (manifest.CheckpointId is { } id && id != checkpoint.CheckpointId)
        {
            throw Errors.InvalidArgument($"manifest field 'checkpoint_id' is {id} but the coordinator has {checkpoint.CheckpointId}");
        }
        return manifest with { JobId = checkpoint.JobId, CheckpointId = checkpoint.CheckpointId, Shards = reported };
    }

    private static void Check(string field, long given, long expected)
    {
        if (given != expected)
        {
            throw Errors.InvalidArgument($"manifest field '{field}' is {given} but the coordinator has {expected}");
        }
    }

    private static void ValidateFileName(string file)
    {
        if (!CheckpointFiles.IsPlainFileName(file))
        {
            throw Errors.InvalidArgument($"invalid shard file '{file}' (a plain file name inside the checkpoint directory: no '/', not '..', not {ManifestFileName})");
        }
    }

    private CheckpointInfo Find(string jobId, long checkpointId)
    {
        _ = _jobs.Describe(jobId);
        var checkpoint = _store.GetCheckpoint(checkpointId);
        if (checkpoint is null || checkpoint.JobId != jobId)
        {
            throw Errors.NotFound($"unknown checkpoint {checkpointId} of job '{jobId}'");
        }
        return checkpoint;
    }

    private CheckpointInfo FindOpenOrCommitted(string jobId, long checkpointId)
    {
        var checkpoint = Find(jobId, checkpointId);
        if (checkpoint.State is CheckpointState.Aborted or CheckpointState.Deleted)
        {
            throw Errors.FailedPrecondition($"checkpoint {checkpointId} of job '{jobId}' is {checkpoint.State}");
        }
        return checkpoint;
    }
}
