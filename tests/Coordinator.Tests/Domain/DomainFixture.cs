using System.Security.Cryptography;
using Adan.Coordinator.Domain;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Adan.Coordinator.Tests.Domain;

/// <summary>
/// The coordinator's domain without a server: store, job registry and checkpoint catalogue over a temporary data
/// directory, on a fake clock that only moves when a test advances it.
/// </summary>
internal sealed class DomainFixture : IDisposable
{
    public const string Job = "job";

    private DomainFixture(DomainOptions options, string dataDirectory)
    {
        Options = options;
        DataDirectory = dataDirectory;
        Open();
    }

    public FakeTimeProvider Time { get; } = new();

    public DomainOptions Options { get; }

    public string DataDirectory { get; }

    public CoordinatorStore Store { get; private set; } = null!;

    public JobRegistry Jobs { get; private set; } = null!;

    public CheckpointCatalog Checkpoints { get; private set; } = null!;

    public JobSubmitters Submitters { get; private set; } = null!;

    public RootOwnership Owners { get; private set; } = null!;

    public AuditLog Audit { get; private set; } = null!;

    public static DomainFixture Create(int keepLast = 3, TimeSpan? heartbeatTimeout = null, TimeSpan? stallTimeout = null, TimeSpan? joinTimeout = null)
    {
        var directory = Directory.CreateTempSubdirectory("adan-domain-").FullName;
        return new DomainFixture(new DomainOptions
        {
            CheckpointRoot = Path.Combine(directory, "checkpoints"),
            HeartbeatTimeout = heartbeatTimeout ?? TimeSpan.FromSeconds(30),
            StallTimeout = stallTimeout,
            JoinTimeout = joinTimeout ?? TimeSpan.FromSeconds(300),
            KeepLast = keepLast,
        }, directory);
    }

    /// <summary>What a coordinator restart does to the domain: close the store, load everything back from it.</summary>
    public void Restart()
    {
        Close();
        Open();
    }

    /// <summary>Joins ranks [0, W) of <paramref name="job"/> from pids 1000 + rank.</summary>
    public void JoinAll(int worldSize, string job = Job)
    {
        for (var rank = 0; rank < worldSize; rank++)
        {
            Jobs.Join(job, rank, worldSize, "test-host", 1000 + rank, null);
        }
    }

    /// <summary>Ranks [firstRank, ranks) begin <paramref name="step"/>, write a shard file each and report it.</summary>
    public CheckpointRecord WriteShards(long step, int worldSize, int ranks, int firstRank = 0)
    {
        CheckpointRecord? checkpoint = null;
        for (var rank = firstRank; rank < ranks; rank++)
        {
            checkpoint = Checkpoints.Begin(Job, step, null);
            var shard = WriteShard(checkpoint, rank, worldSize);
            Checkpoints.ReportShard(Job, checkpoint.Id, shard);
        }
        return Checkpoints.List(Job).Single(c => c.Id == checkpoint!.Id);
    }

    /// <summary>Writes rank's shard file into the checkpoint directory and returns what the rank reports.</summary>
    public static Sharded.Checkpoints.CheckpointShard WriteShard(CheckpointRecord checkpoint, int rank, int worldSize)
    {
        var file = Sharded.Checkpoints.CheckpointFiles.ShardFileName(rank, worldSize);
        var bytes = new byte[100 + rank];
        new Random(rank).NextBytes(bytes);
        File.WriteAllBytes(Path.Combine(checkpoint.Directory, file), bytes);
        return new(rank, file, bytes.Length, Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    public void Dispose()
    {
        Close();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp directory is not a test failure.
        }
    }

    private void Open()
    {
        Store = new CoordinatorStore(DataDirectory);
        Jobs = new JobRegistry(Store, Options, Time, NullLogger<JobRegistry>.Instance);
        Submitters = new JobSubmitters(Store, Jobs);
        Owners = new RootOwnership(Store, Time);
        Audit = new AuditLog(DataDirectory, Time);
        Checkpoints = new CheckpointCatalog(Store, Jobs, Options, Time, NullLogger<CheckpointCatalog>.Instance, Submitters, Owners, Audit);
    }

    private void Close()
    {
        Checkpoints.Dispose();
        Store.Dispose();
    }
}
