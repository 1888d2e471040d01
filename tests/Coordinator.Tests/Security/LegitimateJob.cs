using System.Security.Cryptography;
using Adan.Coordinator.V1;
using Adan.TestSupport;
using Grpc.Core;

namespace Adan.Coordinator.Tests.Security;

/// <summary>
/// The victim of the security tests: a job created with the operator token whose ranks join with their own secrets and
/// commit a checkpoint with their own job token; every attack test ends by checking it is intact.
/// </summary>
internal sealed class LegitimateJob
{
    private LegitimateJob(TestCoordinator coordinator, string jobId, int worldSize, Metadata headers)
    {
        Coordinator = coordinator;
        JobId = jobId;
        WorldSize = worldSize;
        Headers = headers;
    }

    public TestCoordinator Coordinator { get; }

    public string JobId { get; }

    public int WorldSize { get; }

    /// <summary>The job's own token, as its ranks (and anyone they gave it to) send it.</summary>
    public Metadata Headers { get; }

    /// <summary>The checkpoint it committed.</summary>
    public CheckpointInfo Committed { get; private set; } = null!;

    /// <summary>Creates the job, joins every rank (rank 0 with <paramref name="schedule"/>) and commits a checkpoint of step 10.</summary>
    public static async Task<LegitimateJob> StartAsync(TestCoordinator c, string jobId = "victim", int worldSize = 2, LearningRateSchedule? schedule = null)
    {
        var job = new LegitimateJob(c, jobId, worldSize, TestCoordinator.HeadersFor(await c.CreateJobAsync(jobId, worldSize)));
        for (var rank = 0; rank < worldSize; rank++)
        {
            await c.Membership.JoinAsync(job.JoinRequest(rank, rank == 0 ? schedule : null), job.Headers);
        }
        job.Committed = await job.CommitAsync(10);
        return job;
    }

    /// <summary>Rank <paramref name="rank"/>'s Join, from node-R pid 4000 + R, with its secret's hash.</summary>
    public JoinRequest JoinRequest(int rank, LearningRateSchedule? schedule = null) => new()
    {
        JobId = JobId, Rank = rank, WorldSize = WorldSize, Host = $"node-{rank}", Pid = 4000 + rank, Schedule = schedule,
        RankSecretSha256 = TestCoordinator.SecretHashOf(JobId, rank),
    };

    /// <summary>Begins <paramref name="step"/>, writes and reports every rank's shard, commits.</summary>
    public async Task<CheckpointInfo> CommitAsync(long step)
    {
        var c = Coordinator;
        var info = await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = JobId, Step = step }, Headers);
        for (var rank = 0; rank < WorldSize; rank++)
        {
            var file = $"shard-{rank:D5}-of-{WorldSize:D5}.safetensors";
            var bytes = new byte[256 + rank];
            Random.Shared.NextBytes(bytes);
            await File.WriteAllBytesAsync(Path.Combine(info.Directory, file), bytes);
            await c.Checkpoints.ReportShardAsync(new ReportShardRequest
            {
                JobId = JobId,
                CheckpointId = info.CheckpointId,
                Shard = new ShardInfo { Rank = rank, File = file, Bytes = bytes.Length, Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)) },
            }, Headers);
        }
        return await c.Checkpoints.CommitAsync(new CommitCheckpointRequest
        {
            JobId = JobId, CheckpointId = info.CheckpointId, ManifestJson = TestManifests.Create(step, WorldSize).ToJson(),
        }, Headers);
    }

    /// <summary>
    /// The job's committed checkpoint is still its latest, with its manifest and every shard on disk and matching the
    /// hash its rank reported; the job is still <paramref name="state"/> with every rank a member.
    /// </summary>
    public async Task AssertIntactAsync(JobState state = JobState.Running)
    {
        var c = Coordinator;
        var latest = (await c.Checkpoints.LatestAsync(new LatestCheckpointRequest { JobId = JobId }, Headers)).Checkpoint;
        Assert.NotNull(latest);
        Assert.Equal(Committed.CheckpointId, latest.CheckpointId);
        Assert.True(File.Exists(latest.ManifestPath), $"manifest {latest.ManifestPath} is gone");
        foreach (var shard in latest.Shards)
        {
            var bytes = await File.ReadAllBytesAsync(Path.Combine(latest.Directory, shard.File));
            Assert.Equal(shard.Sha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        }
        var status = await c.Jobs.StatusAsync(new JobStatusRequest { JobId = JobId }, Headers);
        Assert.Equal(state, status.State);
        Assert.Equal(WorldSize, status.Members.Count(m => !m.Left));
    }
}
