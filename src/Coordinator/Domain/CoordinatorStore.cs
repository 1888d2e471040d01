using System.Text.Json;
using System.Text.Json.Serialization;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Schedules;
using Microsoft.Data.Sqlite;

namespace Adan.Coordinator.Domain;

/// <summary>
/// Durable state (jobs, members, checkpoint catalogue) in SQLite, so a restarted coordinator serves the same catalogue.
/// </summary>
/// <remarks>
/// One connection behind a lock: the coordinator's write rate is a few rows per join or checkpoint, far below what
/// SQLite serialises, and one connection makes every statement see the previous one. Heartbeats are deliberately not
/// stored (they would be thousands of fsyncs a second for no benefit: after a restart every rank gets a fresh
/// timeout). WAL with synchronous=FULL: a committed catalogue row survives a power loss. States are stored as the
/// numeric values of <see cref="JobState"/> and <see cref="CheckpointState"/>, which therefore never change.
/// </remarks>
internal sealed class CoordinatorStore : IDisposable
{
    private static readonly JsonSerializerOptions s_json = new() { Converters = { new JsonStringEnumConverter() } };
    private readonly Lock _gate = new();
    private readonly SqliteConnection _connection;

    /// <summary>Opens (creating if needed) <c>coordinator.db</c> in <paramref name="dataDirectory"/>.</summary>
    public CoordinatorStore(string dataDirectory)
    {
        var path = PrivateDataDirectory.Prepare(dataDirectory, "coordinator.db");
        // No pooling: disposing the store must release the file, so a restarted coordinator can open it at once.
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        _connection.Open();
        Execute("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            CREATE TABLE IF NOT EXISTS jobs (
                job_id TEXT PRIMARY KEY, world_size INTEGER NOT NULL, state INTEGER NOT NULL,
                reason TEXT NOT NULL, schedule TEXT NULL);
            CREATE TABLE IF NOT EXISTS members (
                job_id TEXT NOT NULL, rank INTEGER NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
                left_job INTEGER NOT NULL, PRIMARY KEY (job_id, rank));
            CREATE TABLE IF NOT EXISTS checkpoints (
                id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, step INTEGER NOT NULL,
                state INTEGER NOT NULL, directory TEXT NOT NULL, manifest_path TEXT NOT NULL,
                world_size INTEGER NOT NULL, committed_ms INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS checkpoints_by_job ON checkpoints (job_id, step);
            CREATE TABLE IF NOT EXISTS shards (
                checkpoint_id INTEGER NOT NULL, rank INTEGER NOT NULL, file TEXT NOT NULL,
                bytes INTEGER NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (checkpoint_id, rank));
            """);
        // Columns added after the first release: a data directory written by an older coordinator gains them.
        AddColumnIfMissing("jobs", "token_sha256", "TEXT NULL");
        AddColumnIfMissing("jobs", "ended_ms", "INTEGER NOT NULL DEFAULT 0");
        AddColumnIfMissing("jobs", "restarts", "INTEGER NOT NULL DEFAULT 0");
        AddColumnIfMissing("jobs", "failed_rank", "INTEGER NOT NULL DEFAULT -1");
        AddColumnIfMissing("members", "secret_sha256", "TEXT NULL");
    }

    private void AddColumnIfMissing(string table, string column, string definition)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = $"SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = $column";
        Bind(command, ("$column", column));
        if ((long)command.ExecuteScalar()! == 0)
        {
            Execute($"ALTER TABLE {table} ADD COLUMN {column} {definition}");
        }
    }

    /// <summary>Writes a job's state, reason and schedule.</summary>
    public void SaveJob(Job job)
    {
        var schedule = job.Schedule is null ? null : JsonSerializer.Serialize(job.Schedule, s_json);
        Execute("""
            INSERT INTO jobs (job_id, world_size, state, reason, schedule, token_sha256, ended_ms, restarts, failed_rank)
            VALUES ($id, $w, $state, $reason, $schedule, $token, $ended, $restarts, $failed)
            ON CONFLICT (job_id) DO UPDATE SET state = $state, reason = $reason, schedule = $schedule, ended_ms = $ended, failed_rank = $failed
            """,
            ("$id", job.JobId), ("$w", job.WorldSize), ("$state", (int)job.State), ("$reason", job.Reason), ("$schedule", schedule),
            ("$token", job.TokenHash), ("$ended", job.EndedAt?.ToUnixTimeMilliseconds() ?? 0),
            ("$restarts", job.Restarts), ("$failed", job.FailedRank));
    }

    /// <summary>Writes a member's identity, the hash of its secret (so a restart keeps every rank's proof) and whether it left.</summary>
    public void SaveMember(string jobId, Member member) =>
        Execute("""
            INSERT INTO members (job_id, rank, host, pid, left_job, secret_sha256) VALUES ($job, $rank, $host, $pid, $left, $secret)
            ON CONFLICT (job_id, rank) DO UPDATE SET host = $host, pid = $pid, left_job = $left, secret_sha256 = $secret
            """,
            ("$job", jobId), ("$rank", member.Rank), ("$host", member.Host), ("$pid", member.Pid), ("$left", member.Left ? 1 : 0),
            ("$secret", member.SecretHash));

    /// <summary>
    /// Forgets a job: its members, its checkpoint rows and their shards, in one transaction. The checkpoint files stay;
    /// they are the record (a later job resumes from them), and a job that is gone has no use for its rows.
    /// </summary>
    public void DeleteJob(string jobId)
    {
        lock (_gate)
        {
            using var transaction = _connection.BeginTransaction();
            using var command = _connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = """
                DELETE FROM shards WHERE checkpoint_id IN (SELECT id FROM checkpoints WHERE job_id = $job);
                DELETE FROM checkpoints WHERE job_id = $job;
                DELETE FROM members WHERE job_id = $job;
                DELETE FROM jobs WHERE job_id = $job;
                """;
            Bind(command, ("$job", jobId));
            command.ExecuteNonQuery();
            transaction.Commit();
        }
    }

    /// <summary>
    /// Every stored job with its members; each member's heartbeat clock starts at <paramref name="now"/>, a
    /// <see cref="TimeProvider"/> timestamp, and an ended job with no recorded end time counts as ended at <paramref name="utcNow"/>.
    /// </summary>
    public List<Job> LoadJobs(long now, DateTimeOffset utcNow)
    {
        lock (_gate)
        {
            var jobs = new Dictionary<string, Job>();
            using (var command = _connection.CreateCommand())
            {
                command.CommandText = "SELECT job_id, world_size, state, reason, schedule, token_sha256, ended_ms, restarts, failed_rank FROM jobs";
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    var job = new Job(reader.GetString(0), reader.GetInt32(1))
                    {
                        State = (JobState)reader.GetInt32(2),
                        Reason = reader.GetString(3),
                        Schedule = reader.IsDBNull(4) ? null : JsonSerializer.Deserialize<LearningRateSchedule>(reader.GetString(4), s_json),
                        TokenHash = reader.IsDBNull(5) ? null : reader.GetString(5),
                        Restarts = reader.GetInt32(7),
                        FailedRank = reader.GetInt32(8),
                    };
                    if (job.IsTerminal)
                    {
                        job.EndedAt = reader.GetInt64(6) == 0 ? utcNow : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6));
                    }
                    jobs.Add(job.JobId, job);
                }
            }
            using (var command = _connection.CreateCommand())
            {
                command.CommandText = "SELECT job_id, rank, host, pid, left_job, secret_sha256 FROM members";
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    if (jobs.TryGetValue(reader.GetString(0), out var job) && reader.GetInt32(1) < job.WorldSize)
                    {
                        job.Members[reader.GetInt32(1)] = new Member(reader.GetInt32(1), reader.GetString(2), reader.GetInt32(3), now)
                        {
                            Left = reader.GetInt32(4) != 0,
                            SecretHash = reader.IsDBNull(5) ? null : reader.GetString(5),
                        };
                    }
                }
            }
            return [.. jobs.Values];
        }
    }

    /// <summary>Adds an OPEN checkpoint and returns its id.</summary>
    public long InsertCheckpoint(string jobId, long step, string directory, int worldSize)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = """
                INSERT INTO checkpoints (job_id, step, state, directory, manifest_path, world_size, committed_ms)
                VALUES ($job, $step, $state, $dir, '', $w, 0);
                SELECT last_insert_rowid();
                """;
            Bind(command, ("$job", jobId), ("$step", step), ("$state", (int)CheckpointState.Open), ("$dir", directory), ("$w", worldSize));
            return (long)command.ExecuteScalar()!;
        }
    }

    /// <summary>Records one rank's shard of a checkpoint.</summary>
    public void SaveShard(long checkpointId, CheckpointShard shard) =>
        Execute("INSERT INTO shards (checkpoint_id, rank, file, bytes, sha256) VALUES ($id, $rank, $file, $bytes, $sha)",
            ("$id", checkpointId), ("$rank", shard.Rank), ("$file", shard.File), ("$bytes", shard.Bytes), ("$sha", shard.Sha256));

    /// <summary>Moves a checkpoint to <paramref name="state"/>, with its manifest path and commit time once committed.</summary>
    public void SetCheckpointState(long checkpointId, CheckpointState state, string manifestPath = "", DateTimeOffset? committedAt = null) =>
        Execute("UPDATE checkpoints SET state = $state, manifest_path = $manifest, committed_ms = $ms WHERE id = $id",
            ("$id", checkpointId), ("$state", (int)state), ("$manifest", manifestPath), ("$ms", committedAt?.ToUnixTimeMilliseconds() ?? 0));

    /// <summary>One checkpoint with its shards, or null.</summary>
    public CheckpointRecord? GetCheckpoint(long checkpointId) =>
        QueryCheckpoints("WHERE id = $p", checkpointId).FirstOrDefault();

    /// <summary>Checkpoints of a job, by step then id (oldest attempt first).</summary>
    public List<CheckpointRecord> GetCheckpoints(string jobId) => QueryCheckpoints("WHERE job_id = $p", jobId);

    /// <summary>The checkpoints <paramref name="where"/> selects, each with its shards, read in one query.</summary>
    private List<CheckpointRecord> QueryCheckpoints(string where, object parameter)
    {
        lock (_gate)
        {
            var result = new List<CheckpointRecord>();
            using var command = _connection.CreateCommand();
            // One LEFT JOIN, not a query per checkpoint: a job with thousands of rows costs one statement under the lock.
            command.CommandText = $"""
                SELECT c.id, c.job_id, c.step, c.state, c.directory, c.manifest_path, c.world_size, c.committed_ms,
                       s.rank, s.file, s.bytes, s.sha256
                FROM (SELECT * FROM checkpoints {where}) AS c LEFT JOIN shards AS s ON s.checkpoint_id = c.id
                ORDER BY c.step, c.id, s.rank
                """;
            Bind(command, ("$p", parameter));
            using var reader = command.ExecuteReader();
            List<CheckpointShard>? shards = null;
            while (reader.Read())
            {
                var id = reader.GetInt64(0);
                if (result.Count == 0 || result[^1].Id != id)
                {
                    shards = [];
                    // 0 is the column's "never committed": no checkpoint is committed at the Unix epoch.
                    var committedMs = reader.GetInt64(7);
                    var committedAt = committedMs == 0 ? (DateTimeOffset?)null : DateTimeOffset.FromUnixTimeMilliseconds(committedMs);
                    result.Add(new CheckpointRecord(id, reader.GetString(1), reader.GetInt64(2), (CheckpointState)reader.GetInt32(3),
                        reader.GetString(4), reader.GetString(5), reader.GetInt32(6), shards, committedAt));
                }
                if (!reader.IsDBNull(8))
                {
                    shards!.Add(new CheckpointShard(reader.GetInt32(8), reader.GetString(9), reader.GetInt64(10), reader.GetString(11)));
                }
            }
            return result;
        }
    }

    /// <summary>Runs statements that return nothing; for the tables other domain types keep in this database.</summary>
    internal void Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = sql;
            Bind(command, parameters);
            command.ExecuteNonQuery();
        }
    }

    /// <summary>Runs a query and reads each row with <paramref name="read"/>; for the tables other domain types keep here.</summary>
    internal List<T> Query<T>(string sql, Func<SqliteDataReader, T> read, params (string Name, object? Value)[] parameters)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = sql;
            Bind(command, parameters);
            using var reader = command.ExecuteReader();
            var rows = new List<T>();
            while (reader.Read())
            {
                rows.Add(read(reader));
            }
            return rows;
        }
    }

    private static void Bind(SqliteCommand command, params (string Name, object? Value)[] parameters)
    {
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
    }

    /// <summary>Closes the database, releasing the file.</summary>
    public void Dispose() => _connection.Dispose();
}
