namespace Adan.Coordinator.Domain;

/// <summary>One owned checkpoint root: its owner credential and the job that last began a checkpoint there.</summary>
/// <param name="Root">The root, absolute and link-resolved.</param>
/// <param name="Owner">The credential it belongs to (a submitter's name, or <c>operator</c>).</param>
/// <param name="HolderJob">The job that last began a checkpoint in it (it holds the root while it lives), or null.</param>
/// <param name="Since">When the owner got it.</param>
internal sealed record OwnedRoot(string Root, string Owner, string? HolderJob, DateTimeOffset Since);

/// <summary>
/// Checkpoint roots owned by credentials: a root belongs to the credential whose job first began a checkpoint in it;
/// only that credential's jobs may begin, commit or have retention delete there, until the operator hands it over
/// (<c>adan coordinator transfer-root</c>). Also the step directories the coordinator created in each root: the
/// committed ones are the owner's checkpoints, the only ones retention counts and deletes.
/// </summary>
/// <remarks>
/// Tables <c>root_owners</c> and <c>owned_steps</c> in the coordinator's store; they outlive jobs (expiry forgets a job,
/// not its root) and restarts. Nothing is cached: every check is a query, so a transfer written by the operator command
/// into the same database while the coordinator runs takes effect at the next Begin or Commit. Callers serialise
/// changes (the checkpoint catalogue's lock).
///
/// The holder agrees with the worker's <c>.adan-lock</c>: both name the job using the root (rank 0 takes the lock
/// before training, so the job that last began a checkpoint is the one the lock names). Each refuses what it can judge:
/// the coordinator another credential's job (the tenancy boundary), the lock a second job of the same owner (a kernel
/// lock that ends with the process, where the coordinator could only guess from heartbeats whether an elastic
/// restart's predecessor is gone). Two jobs of one owner sharing a root through a hand-made client that skips the
/// lock harm only that owner.
/// </remarks>
internal sealed class RootOwnership
{
    private readonly CoordinatorStore _store;
    private readonly TimeProvider _time;

    /// <summary>Creates the tables if needed.</summary>
    public RootOwnership(CoordinatorStore store, TimeProvider time)
    {
        _store = store;
        _time = time;
        store.Execute("""
            CREATE TABLE IF NOT EXISTS root_owners (
                root TEXT PRIMARY KEY, owner TEXT NOT NULL, holder_job TEXT NULL, since_ms INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS owned_steps (
                directory TEXT PRIMARY KEY, root TEXT NOT NULL, committed INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS owned_steps_by_root ON owned_steps (root);
            """);
    }

    /// <summary>The root's record, or null when no one owns it.</summary>
    public OwnedRoot? Find(string root) =>
        _store.Query("SELECT root, owner, holder_job, since_ms FROM root_owners WHERE root = $root", Read, ("$root", root)).FirstOrDefault();

    /// <summary>Every owned root, by path.</summary>
    public IReadOnlyList<OwnedRoot> List() => _store.Query("SELECT root, owner, holder_job, since_ms FROM root_owners ORDER BY root", Read);

    /// <summary>
    /// Lets <paramref name="jobId"/> of <paramref name="owner"/> begin a checkpoint in <paramref name="root"/>: claims an
    /// unowned root for <paramref name="owner"/> and makes the job its holder.
    /// </summary>
    /// <returns>True when this call claimed the root (it had no owner).</returns>
    /// <exception cref="CoordinatorException">PermissionDenied: another credential owns the root, or a root inside or around it.</exception>
    public bool Claim(string root, string owner, string jobId)
    {
        var existing = Find(root);
        if (existing is null)
        {
            foreach (var other in List().Where(r => r.Owner != owner))
            {
                if (IsUnder(root, other.Root) || IsUnder(other.Root, root))
                {
                    throw CoordinatorException.PermissionDenied(
                        $"checkpoint root '{root}' {(IsUnder(root, other.Root) ? "lies inside" : "contains")} '{other.Root}', which belongs to credential '{other.Owner}'; "
                        + $"job '{jobId}' of credential '{owner}' may not write there (give it a checkpoint_dir of its own)");
                }
            }
            _store.Execute("INSERT INTO root_owners (root, owner, holder_job, since_ms) VALUES ($root, $owner, $job, $ms)",
                ("$root", root), ("$owner", owner), ("$job", jobId), ("$ms", _time.GetUtcNow().ToUnixTimeMilliseconds()));
            return true;
        }
        CheckOwner(existing, owner, jobId);
        if (existing.HolderJob != jobId)
        {
            _store.Execute("UPDATE root_owners SET holder_job = $job WHERE root = $root", ("$root", root), ("$job", jobId));
        }
        return false;
    }

    /// <summary>Refuses a commit (or any write) by a job whose credential does not own <paramref name="root"/>.</summary>
    /// <exception cref="CoordinatorException">PermissionDenied naming the root and its owner.</exception>
    public void CheckOwner(string root, string owner, string jobId)
    {
        var existing = Find(root) ?? throw CoordinatorException.PermissionDenied(
            $"checkpoint root '{root}' has no owner; job '{jobId}' must begin a checkpoint there first");
        CheckOwner(existing, owner, jobId);
    }

    private static void CheckOwner(OwnedRoot root, string owner, string jobId)
    {
        if (root.Owner != owner)
        {
            throw CoordinatorException.PermissionDenied(
                $"checkpoint root '{root.Root}' belongs to credential '{root.Owner}'; job '{jobId}' of credential '{owner}' may not begin, commit or delete checkpoints there "
                + "(give it another checkpoint_dir, or have the operator hand the root over with adan coordinator transfer-root)");
        }
    }

    /// <summary>Records a step directory the coordinator created in <paramref name="root"/>.</summary>
    public void RecordStep(string root, string directory) =>
        _store.Execute("""
            INSERT INTO owned_steps (directory, root, committed) VALUES ($dir, $root, 0)
            ON CONFLICT (directory) DO UPDATE SET root = $root, committed = 0
            """, ("$dir", directory), ("$root", root));

    /// <summary>Marks a step directory committed: retention may count and delete it.</summary>
    public void MarkCommitted(string directory) =>
        _store.Execute("UPDATE owned_steps SET committed = 1 WHERE directory = $dir", ("$dir", directory));

    /// <summary>The committed step directories the coordinator created in <paramref name="root"/>: its owner's checkpoints.</summary>
    public IReadOnlySet<string> CommittedSteps(string root) =>
        _store.Query("SELECT directory FROM owned_steps WHERE root = $root AND committed = 1", r => r.GetString(0), ("$root", root))
            .ToHashSet(StringComparer.Ordinal);

    /// <summary>Forgets step directories retention deleted.</summary>
    public void ForgetSteps(IEnumerable<string> directories)
    {
        foreach (var directory in directories)
        {
            _store.Execute("DELETE FROM owned_steps WHERE directory = $dir", ("$dir", directory));
        }
    }

    /// <summary>Hands <paramref name="root"/> (with its checkpoints) to <paramref name="owner"/>; the holder is cleared.</summary>
    /// <returns>The previous owner.</returns>
    /// <exception cref="CoordinatorException">NotFound when no one owns the root.</exception>
    public string Transfer(string root, string owner)
    {
        var existing = Find(root) ?? throw CoordinatorException.NotFound(
            $"no credential owns checkpoint root '{root}' (list the owned roots with adan coordinator roots --data-dir DIR)");
        _store.Execute("UPDATE root_owners SET owner = $owner, holder_job = NULL, since_ms = $ms WHERE root = $root",
            ("$root", root), ("$owner", owner), ("$ms", _time.GetUtcNow().ToUnixTimeMilliseconds()));
        return existing.Owner;
    }

    private static OwnedRoot Read(Microsoft.Data.Sqlite.SqliteDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)));

    private static bool IsUnder(string path, string root) =>
        path.StartsWith(Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar, StringComparison.Ordinal);
}
