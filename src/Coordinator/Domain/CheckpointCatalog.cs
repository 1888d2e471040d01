using System.Text.RegularExpressions;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.IO;
using Microsoft.Extensions.Logging;

namespace Adan.Coordinator.Domain;

/// <summary>
/// The two-phase checkpoint commit: Begin, one shard report per rank, Commit (through <see cref="CheckpointCommit"/>, the same path as the local catalogue), and
/// keep-last-K retention.
/// </summary>
/// <remarks>
/// A job's Begin and Commit are serialised by a lock of that job (one of <see cref="JobGateCount"/>, picked by the job
/// id), which makes "all shards in, then manifest, then COMMITTED" race-free; the catalogue-wide lock guards only the
/// store's rows, never file I/O, so one job's slow or hostile file system (a FIFO as manifest.json) cannot stall
/// another job's checkpoints. Files in a checkpoint root are created, read and deleted without following links
/// (<see cref="NoFollowFiles"/>). The catalogue row turns COMMITTED only
/// after manifest.json is durable, so Latest never returns a checkpoint whose manifest could be missing; a crash
/// in between leaves the row OPEN and the previous checkpoint latest. Retention marks rows DELETED under the lock
/// and deletes their directories in the background (<see cref="CheckpointRetention"/>), so a commit, and the rank 0
/// waiting for it, never waits for hundreds of MB to be freed.
/// </remarks>
internal sealed partial class CheckpointCatalog : IDisposable
{
    private const int JobGateCount = 64;
    private readonly Lock _gate = new();
    private readonly Lock[] _jobGates = [.. Enumerable.Range(0, JobGateCount).Select(_ => new Lock())];
    private readonly CoordinatorStore _store;
    private readonly JobRegistry _jobs;
    private readonly DomainOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<CheckpointCatalog> _logger;
    private readonly CheckpointRetention? _retention;
    private readonly PathConfinement _confinement;
    private readonly RootOwnership _owners;
    private readonly JobSubmitters _submitters;
    private readonly AuditLog _audit;

    /// <summary>Creates the catalogue over <paramref name="store"/>; a job that fails has its open checkpoints aborted.</summary>
    /// <param name="store">The durable catalogue.</param>
    /// <param name="jobs">The jobs whose checkpoints these are.</param>
    /// <param name="options">Roots and retention.</param>
    /// <param name="time">The clock of commit times.</param>
    /// <param name="logger">Warnings (aborts, retention failures).</param>
    /// <param name="submitters">Which credential created each job: it owns the roots the job begins in.</param>
    /// <param name="owners">Who owns each checkpoint root.</param>
    /// <param name="audit">Where commits and deletions are recorded.</param>
    public CheckpointCatalog(CoordinatorStore store, JobRegistry jobs, DomainOptions options, TimeProvider time, ILogger<CheckpointCatalog> logger,
        JobSubmitters submitters, RootOwnership owners, AuditLog audit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(options.KeepLast);
        _store = store;
        _jobs = jobs;
        _options = options;
        _time = time;
        _logger = logger;
        _submitters = submitters;
        _owners = owners;
        _audit = audit;
        _confinement = new PathConfinement(options.AllowedRoots.Count > 0 ? options.AllowedRoots : [options.CheckpointRoot]);
        _retention = options.KeepLast > 0
            ? new CheckpointRetention(options.KeepLast, (directory, e) => _logger.LogWarning("Retention could not delete '{Directory}': {Message}", directory, e.Message))
            : null;
        _jobs.JobFailed += AbortOpen;
    }

    /// <summary>Completes when the directories retention queued so far are deleted.</summary>
    public Task WhenRetentionDone() => _retention?.WhenDone() ?? Task.CompletedTask;

    /// <summary>Waits for retention's queued deletions (the host disposes the catalogue when it stops).</summary>
    public void Dispose() => _retention?.Dispose();

    [GeneratedRegex(@"\A[0-9a-f]{64}\z")]
    private static partial Regex Sha256Pattern();

    /// <summary>
    /// Opens the checkpoint of a step, or returns the one already open: every rank calls Begin and all get the same
    /// id and directory, so no rank has to broadcast it. The root must belong to the job's credential (a root no one
    /// owns becomes its own, see <see cref="RootOwnership"/>), and the step directory is created here, never reused
    /// (see <see cref="CreateStepDirectory"/>).
    /// </summary>
    /// <param name="jobId">The job; it must be RUNNING.</param>
    /// <param name="step">Optimizer step the checkpoint captures, ≥ 0.</param>
    /// <param name="checkpointRoot">Absolute root of the job's checkpoints; null or empty for <c>&lt;configured root&gt;/&lt;job&gt;</c>.</param>
    /// <exception cref="CoordinatorException">
    /// InvalidArgument (step, root), PermissionDenied (root outside the permitted directories, or owned by another
    /// credential), FailedPrecondition (job not RUNNING, directory not creatable, a link or file where the directory
    /// goes), AlreadyExists (step committed, here or by another run in the same root), NotFound (job).
    /// </exception>
    public CheckpointRecord Begin(string jobId, long step, string? checkpointRoot)
    {
        var (worldSize, state) = _jobs.Describe(jobId);
        if (step < 0)
        {
            throw CoordinatorException.InvalidArgument($"invalid checkpoint step {step} (must be >= 0)");
        }
        if (state != JobState.Running)
        {
            throw CoordinatorException.FailedPrecondition($"job '{jobId}' is {state}; checkpoints need a RUNNING job");
        }
        string root;
        try
        {
            // The checked, link-resolved path is the one used from here on, so what was checked is what is written.
            root = _confinement.Check(string.IsNullOrEmpty(checkpointRoot) ? Path.Combine(_options.CheckpointRoot, jobId) : checkpointRoot);
        }
        catch (IOException e)
        {
            throw CoordinatorException.InvalidArgument($"invalid checkpoint root '{checkpointRoot}': {e.Message}");
        }
        var directory = CheckpointFiles.StepDirectory(root, step);
        var owner = _submitters.Of(jobId);
        lock (JobGate(jobId))
        {
            try
            {
                // Ownership rows change only under the catalogue-wide lock: two credentials' jobs claiming one root (or
                // nested roots) at once are serialised here, not by their jobs' locks.
                lock (_gate)
                {
                    if (_owners.Claim(root, owner, jobId))
                    {
                        _audit.Record(AuditLog.Events.RootClaimed, owner, ("job", jobId), ("root", root));
                    }
                }
            }
            catch (CoordinatorException e) when (e.Kind == CoordinatorErrorKind.PermissionDenied)
            {
                _audit.Record(AuditLog.Events.AccessDenied, owner, ("job", jobId), ("root", root), ("reason", e.Message));
                throw;
            }
            var sameStep = CheckpointsOnDisk(jobId).Where(c => c.Step == step).ToList();
            if (sameStep.Any(c => c.State == CheckpointState.Committed))
            {
                throw CoordinatorException.AlreadyExists($"step {step} of job '{jobId}' is already committed");
            }
            var open = sameStep.FirstOrDefault(c => c.State == CheckpointState.Open);
            if (open is not null)
            {
                return open;
            }
            RequireRoomForAnother(jobId);
            if (CheckpointFiles.IsCommitted(directory))
            {
                // Committed by another run (or another coordinator) in the same root: the files are the record.
                throw CoordinatorException.AlreadyExists(
                    $"'{directory}' already holds a committed checkpoint ({CheckpointManifest.FileName}); a committed checkpoint is never overwritten");
            }
            CreateStepDirectory(root, directory, jobId, owner);
            lock (_gate)
            {
                _owners.RecordStep(root, directory);
                var id = _store.InsertCheckpoint(jobId, step, directory, worldSize);
                return _store.GetCheckpoint(id)!;
            }
        }
    }

    /// <summary>
    /// Refuses a new checkpoint beyond <see cref="Protocol.CoordinatorLimits.MaxOpenCheckpoints"/> open ones or
    /// <see cref="Protocol.CoordinatorLimits.MaxUncommittedCheckpoints"/> begun without a commit: each costs a directory
    /// and a catalogue row, and a job that begins steps it never commits would grow both without bound.
    /// </summary>
    private void RequireRoomForAnother(string jobId)
    {
        var rows = _store.GetCheckpoints(jobId);
        var open = rows.Where(c => c.State == CheckpointState.Open).Select(c => c.Step).ToList();
        if (open.Count >= Protocol.CoordinatorLimits.MaxOpenCheckpoints)
        {
            throw CoordinatorException.ResourceExhausted(
                $"job '{jobId}' already has {open.Count} open checkpoints (steps {string.Join(", ", open)}), the most allowed; commit or abort one before beginning another");
        }
        var uncommitted = rows.Count(c => c.State is CheckpointState.Open or CheckpointState.Aborted);
        if (uncommitted >= Protocol.CoordinatorLimits.MaxUncommittedCheckpoints)
        {
            throw CoordinatorException.ResourceExhausted(
                $"job '{jobId}' began {uncommitted} checkpoints it did not commit, the most allowed; a job that cannot commit a checkpoint should end and be restarted");
        }
    }

    /// <summary>
    /// Creates <paramref name="directory"/> (and the root) with <c>mkdir</c>, so the directory a step is written to is
    /// always one this coordinator just made. An uncommitted directory already there (the save of an earlier attempt or
    /// launch that died, or anything planted by someone who can write the root) is removed first, never reused; a link
    /// or a file in its place is refused. The caller checked that the job's credential owns the root.
    /// </summary>
    private void CreateStepDirectory(string root, string directory, string jobId, string owner)
    {
        try
        {
            Directory.CreateDirectory(root);
            var existing = new DirectoryInfo(directory);
            if (existing.LinkTarget is not null || File.Exists(directory))
            {
                throw new IOException(
                    $"'{directory}' is a {(existing.LinkTarget is not null ? "symbolic link" : "file")}, not a checkpoint directory; a Begin writes only into a directory it creates (remove it)");
            }
            if (existing.Exists)
            {
                // Through a handle of the directory, never following a link swapped in meanwhile; links inside are
                // removed as links.
                NoFollowFiles.DeleteDirectory(directory);
                _logger.LogWarning("Removed '{Directory}', an uncommitted directory, to begin step again for job {JobId}", directory, jobId);
                _audit.Record(AuditLog.Events.CheckpointDeleted, owner, ("job", jobId), ("root", root), ("directory", directory),
                    ("reason", "uncommitted directory removed to begin the step again"));
            }
            // Exclusive: a directory (or link) that appears after the checks (someone with write access to the root)
            // makes this fail rather than be adopted.
            NoFollowFiles.CreateDirectory(directory, exclusive: true).Dispose();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CoordinatorException.FailedPrecondition($"cannot create checkpoint directory '{directory}': {e.Message}");
        }
    }

    /// <summary>Records one rank's shard; an identical repeat succeeds, so ranks may retry.</summary>
    /// <exception cref="CoordinatorException">
    /// InvalidArgument (rank, file name, size, sha256), AlreadyExists (the rank reported another shard),
    /// FailedPrecondition (checkpoint not open), NotFound (job or checkpoint).
    /// </exception>
    public ShardProgress ReportShard(string jobId, long checkpointId, CheckpointShard shard)
    {
        lock (_gate)
        {
            var checkpoint = FindOpenOrCommitted(jobId, checkpointId);
            if (shard.Rank < 0 || shard.Rank >= checkpoint.WorldSize)
            {
                throw CoordinatorException.InvalidArgument($"invalid shard rank {shard.Rank} (must be in [0, {checkpoint.WorldSize}))");
            }
            var expectedFile = CheckpointFiles.ShardFileName(shard.Rank, checkpoint.WorldSize);
            if (shard.File != expectedFile)
            {
                throw CoordinatorException.InvalidArgument(
                    $"invalid shard file '{shard.File}' for rank {shard.Rank} (expected {expectedFile}: shard files are named shard-NNNNN-of-NNNNN.safetensors inside the checkpoint directory)");
            }
            if (shard.Bytes < 0)
            {
                throw CoordinatorException.InvalidArgument($"invalid shard size {shard.Bytes} bytes for rank {shard.Rank} (must be >= 0)");
            }
            if (!Sha256Pattern().IsMatch(shard.Sha256))
            {
                throw CoordinatorException.InvalidArgument($"invalid sha256 '{shard.Sha256}' for rank {shard.Rank} (expected 64 lowercase hex digits)");
            }
            var previous = checkpoint.Shards.FirstOrDefault(s => s.Rank == shard.Rank);
            if (previous is not null)
            {
                // A retried report is harmless; a different one means two writers for one shard.
                if (previous != shard)
                {
                    throw CoordinatorException.AlreadyExists(
                        $"rank {shard.Rank} already reported '{previous.File}' ({previous.Bytes} bytes, sha256 {previous.Sha256}) for checkpoint {checkpoint.Id}");
                }
                return new ShardProgress(checkpoint.Shards.Count, checkpoint.WorldSize);
            }
            if (checkpoint.State != CheckpointState.Open)
            {
                throw CoordinatorException.FailedPrecondition($"checkpoint {checkpoint.Id} is {checkpoint.State} and takes no new shards");
            }
            _store.SaveShard(checkpoint.Id, shard);
            return new ShardProgress(checkpoint.Shards.Count + 1, checkpoint.WorldSize);
        }
    }

    /// <summary>
    /// Commits once every rank reported: stamps <paramref name="manifest"/> with the job, the checkpoint id and the
    /// reported shards, writes manifest.json through <see cref="CheckpointCommit"/>, then applies retention. Committing
    /// a committed checkpoint again returns it.
    /// </summary>
    /// <exception cref="CoordinatorException">
    /// FailedPrecondition (ranks missing, checkpoint aborted, files disagree with the reports), InvalidArgument (the
    /// manifest disagrees with the catalogue), Internal (manifest not writable), NotFound (job or checkpoint).
    /// </exception>
    public CheckpointRecord Commit(string jobId, long checkpointId, CheckpointManifest manifest)
    {
        CheckpointRecord committed;
        lock (JobGate(jobId))
        {
            CheckpointRecord checkpoint;
            lock (_gate)
            {
                checkpoint = FindOpenOrCommitted(jobId, checkpointId);
            }
            if (checkpoint.State == CheckpointState.Committed)
            {
                // A retry whose first attempt committed (its reply lost, or its deadline passed first).
                return SameAsCommitted(checkpoint, Stamp(checkpoint, manifest))
                    ? checkpoint
                    : throw CoordinatorException.AlreadyExists(
                        $"checkpoint {checkpoint.Id} (step {checkpoint.Step}) is already committed with a different manifest; a committed checkpoint is never overwritten");
            }
            var missing = Enumerable.Range(0, checkpoint.WorldSize).Except(checkpoint.Shards.Select(s => s.Rank)).ToList();
            if (missing.Count > 0)
            {
                throw CoordinatorException.FailedPrecondition(
                    $"checkpoint {checkpoint.Id} has {checkpoint.Shards.Count} of {checkpoint.WorldSize} shards; missing ranks {string.Join(", ", missing.Take(16))}{(missing.Count > 16 ? ", ..." : "")}");
            }
            var owner = _submitters.Of(jobId);
            _owners.CheckOwner(RootOf(checkpoint), owner, jobId);
            var stamped = Stamp(checkpoint, manifest);
            string manifestPath;
            try
            {
                // The manifest may be on disk already: written by an attempt that failed before the catalogue row
                // turned COMMITTED. The same manifest again completes that commit; another is refused below.
                manifestPath = File.Exists(Path.Combine(checkpoint.Directory, CheckpointManifest.FileName)) && SameAsCommitted(checkpoint, stamped)
                    ? Path.Combine(checkpoint.Directory, CheckpointManifest.FileName)
                    : CheckpointCommit.Commit(checkpoint.Directory, stamped);
            }
            catch (CheckpointException e)
            {
                throw CoordinatorException.FailedPrecondition(e.Message);
            }
            catch (IOException e)
            {
                throw CoordinatorException.Internal($"cannot commit checkpoint {checkpoint.Id} in '{checkpoint.Directory}': {e.Message}");
            }
            lock (_gate)
            {
                // Even if the job failed meanwhile (aborting it): the manifest is durable, and the files are the record.
                _store.SetCheckpointState(checkpoint.Id, CheckpointState.Committed, manifestPath, _time.GetUtcNow());
                committed = _store.GetCheckpoint(checkpoint.Id)!;
                _owners.MarkCommitted(checkpoint.Directory);
            }
            _audit.Record(AuditLog.Events.CheckpointCommitted, owner, ("job", jobId), ("step", committed.Step), ("directory", committed.Directory));
            ApplyRetention(jobId, owner, checkpoint.Directory);
        }
        _jobs.Publish(jobId, JobEventKind.CheckpointCommitted, $"checkpoint {committed.Id} of step {committed.Step} committed", committed.Step);
        return committed;
    }

    /// <summary>Abandons an open checkpoint (aborting an aborted one again is harmless); the previous commit stays latest.</summary>
    /// <exception cref="CoordinatorException">
    /// FailedPrecondition (committed or deleted), NotFound (job or checkpoint), InvalidArgument (a reason over
    /// <see cref="Protocol.CoordinatorLimits.MaxReasonBytes"/>).
    /// </exception>
    public CheckpointRecord Abort(string jobId, long checkpointId, string reason)
    {
        reason = ClientText.Bounded("reason", reason, Protocol.CoordinatorLimits.MaxReasonBytes);
        lock (_gate)
        {
            var checkpoint = Find(jobId, checkpointId);
            if (checkpoint.State is CheckpointState.Committed or CheckpointState.Deleted)
            {
                throw CoordinatorException.FailedPrecondition(
                    $"checkpoint {checkpoint.Id} is {checkpoint.State}; only an open checkpoint can be aborted");
            }
            if (checkpoint.State == CheckpointState.Open)
            {
                _store.SetCheckpointState(checkpoint.Id, CheckpointState.Aborted);
                _logger.LogWarning("Checkpoint {Id} of job {JobId} aborted: {Reason}", checkpoint.Id, jobId, reason);
            }
            return _store.GetCheckpoint(checkpoint.Id)!;
        }
    }

    /// <summary>The committed checkpoint with the highest step whose manifest is still on disk, or null.</summary>
    /// <exception cref="CoordinatorException">NotFound or InvalidArgument for the job id.</exception>
    public CheckpointRecord? Latest(string jobId)
    {
        _ = _jobs.Describe(jobId);
        return CheckpointsOnDisk(jobId).LastOrDefault(c => c.State == CheckpointState.Committed);
    }

    /// <summary>Every checkpoint of a job, by step then id, in every state.</summary>
    /// <exception cref="CoordinatorException">NotFound or InvalidArgument for the job id.</exception>
    public IReadOnlyList<CheckpointRecord> List(string jobId)
    {
        _ = _jobs.Describe(jobId);
        return CheckpointsOnDisk(jobId);
    }

    /// <summary>
    /// The job's checkpoints, after marking DELETED the committed ones whose manifest is gone: the files are the record,
    /// and the job's own retention (or a person) may delete checkpoints this catalogue still lists.
    /// </summary>
    private List<CheckpointRecord> CheckpointsOnDisk(string jobId)
    {
        List<CheckpointRecord> checkpoints;
        lock (_gate)
        {
            checkpoints = _store.GetCheckpoints(jobId);
        }
        var gone = checkpoints.Where(c => c.State == CheckpointState.Committed && !File.Exists(c.ManifestPath)).ToList();
        if (gone.Count == 0)
        {
            return checkpoints;
        }
        lock (_gate)
        {
            foreach (var c in gone)
            {
                _store.SetCheckpointState(c.Id, CheckpointState.Deleted, c.ManifestPath, c.CommittedAt);
            }
            return _store.GetCheckpoints(jobId);
        }
    }

    /// <summary>The lock serialising one job's Begin and Commit (shared by the jobs whose ids hash alike: bounded, never pruned).</summary>
    private Lock JobGate(string jobId) => _jobGates[(uint)StringComparer.Ordinal.GetHashCode(jobId) % JobGateCount];

    private void AbortOpen(string jobId)
    {
        lock (_gate)
        {
            foreach (var checkpoint in _store.GetCheckpoints(jobId).Where(c => c.State == CheckpointState.Open))
            {
                _store.SetCheckpointState(checkpoint.Id, CheckpointState.Aborted);
            }
        }
    }

    private static string RootOf(CheckpointRecord checkpoint) => Path.GetDirectoryName(checkpoint.Directory) ?? checkpoint.Directory;

    /// <summary>
    /// Deletes (in the background) committed checkpoints beyond the newest K; never the newest, never an open or aborted
    /// one, and only checkpoints this coordinator committed for the root's owner (<see cref="RootOwnership.CommittedSteps"/>).
    /// </summary>
    private void ApplyRetention(string jobId, string owner, string directory)
    {
        if (_retention is null)
        {
            return;
        }
        var root = Path.GetDirectoryName(directory) ?? directory;
        List<CheckpointRecord> rows;
        lock (_gate)
        {
            rows = _store.GetCheckpoints(jobId);
        }
        var open = rows.Where(c => c.State == CheckpointState.Open).Select(c => c.Directory).ToHashSet(StringComparer.Ordinal);
        // Uncommitted directories are swept only when this job opened them: another job's may be a save in progress.
        var written = rows.Select(c => c.Directory).ToHashSet(StringComparer.Ordinal);
        IReadOnlySet<string> owned;
        lock (_gate)
        {
            owned = _owners.CommittedSteps(root);
        }
        var doomed = _retention.Apply(root, open, written, owned).ToHashSet(StringComparer.Ordinal);
        foreach (var gone in doomed)
        {
            _audit.Record(AuditLog.Events.CheckpointDeleted, owner, ("job", jobId), ("root", root), ("directory", gone), ("reason", $"keep-last {_retention.KeepLast}"));
        }
        lock (_gate)
        {
            _owners.ForgetSteps(doomed);
            foreach (var old in _store.GetCheckpoints(jobId).Where(c => c.State == CheckpointState.Committed && doomed.Contains(c.Directory)))
            {
                // The deleter removes the manifest first, so the row and the files agree even if a deletion is cut short.
                _store.SetCheckpointState(old.Id, CheckpointState.Deleted, old.ManifestPath, old.CommittedAt);
            }
        }
    }

    /// <summary>
    /// The manifest rank 0 sent, stamped with the catalogue's job and checkpoint id and the shards reported to it;
    /// <c>step</c>, <c>world_size</c> and any shards, job or id it names must agree with the catalogue.
    /// </summary>
    private static CheckpointManifest Stamp(CheckpointRecord checkpoint, CheckpointManifest manifest)
    {
        var reported = checkpoint.Shards.OrderBy(s => s.Rank).ToArray();
        Check("step", manifest.Step, checkpoint.Step);
        Check("world_size", manifest.WorldSize, checkpoint.WorldSize);
        if (manifest.Shards.Length > 0 && !manifest.Shards.SequenceEqual(reported))
        {
            throw CoordinatorException.InvalidArgument(
                $"manifest field 'shards' does not match the {reported.Length} shard(s) reported for checkpoint {checkpoint.Id}");
        }
        if (manifest.JobId is { } jobId && jobId != checkpoint.JobId)
        {
            throw CoordinatorException.InvalidArgument($"manifest field 'job_id' is '{jobId}' but the coordinator has '{checkpoint.JobId}'");
        }
        if (manifest.CheckpointId is { } id && id != checkpoint.Id)
        {
            throw CoordinatorException.InvalidArgument($"manifest field 'checkpoint_id' is {id} but the coordinator has {checkpoint.Id}");
        }
        return manifest with { JobId = checkpoint.JobId, CheckpointId = checkpoint.Id, Shards = reported };
    }

    /// <summary>Whether the manifest on disk is <paramref name="stamped"/>, compared as the JSON both serialise to.</summary>
    /// <exception cref="CoordinatorException">FailedPrecondition when the committed manifest is gone or unreadable.</exception>
    private static bool SameAsCommitted(CheckpointRecord checkpoint, CheckpointManifest stamped)
    {
        try
        {
            var committed = CheckpointManifest.Read(checkpoint.Directory);
            return committed.ToJson() == (stamped with { Shards = [.. stamped.Shards.OrderBy(s => s.Rank)] }).ToJson();
        }
        catch (Exception e) when (e is CheckpointException or IOException)
        {
            throw CoordinatorException.FailedPrecondition($"checkpoint {checkpoint.Id}: cannot read its committed manifest: {e.Message}");
        }
    }

    private static void Check(string field, long given, long expected)
    {
        if (given != expected)
        {
            throw CoordinatorException.InvalidArgument($"manifest field '{field}' is {given} but the coordinator has {expected}");
        }
    }

    private CheckpointRecord Find(string jobId, long checkpointId)
    {
        _ = _jobs.Describe(jobId);
        var checkpoint = _store.GetCheckpoint(checkpointId);
        if (checkpoint is null || checkpoint.JobId != jobId)
        {
            throw CoordinatorException.NotFound($"unknown checkpoint {checkpointId} of job '{jobId}'");
        }
        return checkpoint;
    }

    private CheckpointRecord FindOpenOrCommitted(string jobId, long checkpointId)
    {
        var checkpoint = Find(jobId, checkpointId);
        if (checkpoint.State is CheckpointState.Aborted or CheckpointState.Deleted)
        {
            throw CoordinatorException.FailedPrecondition($"checkpoint {checkpointId} of job '{jobId}' is {checkpoint.State}");
        }
        return checkpoint;
    }
}
