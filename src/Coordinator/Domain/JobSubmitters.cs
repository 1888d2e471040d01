using System.Collections.Concurrent;
using Adan.Coordinator.Auth;

namespace Adan.Coordinator.Domain;

/// <summary>
/// Which credential created each job: a submitter credential acts only on the jobs it created, and a job's checkpoint
/// roots belong to it. Kept in the store (table <c>job_submitters</c>) so that both survive a coordinator restart, and
/// forgotten with the job when it expires.
/// </summary>
/// <remarks>
/// A job with no row was created by the operator (its token, or a Join with it): its credential is
/// <see cref="Caller.OperatorName"/>. Reads are from memory, so the interceptor's check on every call costs no query.
/// </remarks>
internal sealed class JobSubmitters
{
    private readonly CoordinatorStore _store;
    private readonly ConcurrentDictionary<string, string> _byJob = new(StringComparer.Ordinal);

    /// <summary>Loads the rows; those of jobs the registry no longer has (expired while a write was cut short) are dropped.</summary>
    public JobSubmitters(CoordinatorStore store, JobRegistry jobs)
    {
        _store = store;
        store.Execute("CREATE TABLE IF NOT EXISTS job_submitters (job_id TEXT PRIMARY KEY, credential TEXT NOT NULL)");
        foreach (var (job, credential) in store.Query("SELECT job_id, credential FROM job_submitters", r => (r.GetString(0), r.GetString(1))))
        {
            if (jobs.Exists(job))
            {
                _byJob[job] = credential;
            }
            else
            {
                Forget([job]);
            }
        }
    }

    /// <summary>Records that <paramref name="credential"/> created <paramref name="jobId"/>.</summary>
    public void Record(string jobId, string credential)
    {
        _store.Execute("""
            INSERT INTO job_submitters (job_id, credential) VALUES ($job, $credential)
            ON CONFLICT (job_id) DO UPDATE SET credential = $credential
            """, ("$job", jobId), ("$credential", credential));
        _byJob[jobId] = credential;
    }

    /// <summary>The credential that created <paramref name="jobId"/>; <see cref="Caller.OperatorName"/> for a job the operator made.</summary>
    public string Of(string jobId) => _byJob.TryGetValue(jobId, out var credential) ? credential : Caller.OperatorName;

    /// <summary>Whether <paramref name="credential"/> created <paramref name="jobId"/> (a job it did not create, or none, is not its).</summary>
    public bool Created(string credential, string jobId) =>
        _byJob.TryGetValue(jobId, out var creator) && string.Equals(creator, credential, StringComparison.Ordinal);

    /// <summary>Forgets expired jobs.</summary>
    public void Forget(IEnumerable<string> jobIds)
    {
        foreach (var job in jobIds)
        {
            _store.Execute("DELETE FROM job_submitters WHERE job_id = $job", ("$job", job));
            _byJob.TryRemove(job, out _);
        }
    }
}
