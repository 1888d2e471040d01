using System.Runtime.Versioning;
using System.Security.Cryptography;
using Adan.Coordinator.Protocol;
using Adan.Coordinator.V1;
using Adan.Sharded.Checkpoints;
using Adan.TestSupport;
using Grpc.Core;

namespace Adan.Worker.Tests.Security;

/// <summary>A job created with a submitter's credential whose ranks the test plays: the job's token, each rank's secret.</summary>
[UnsupportedOSPlatform("windows")]
internal sealed class PlayedJob(StandingCoordinator coordinator, string jobId, int worldSize, Metadata headers)
{
    private readonly string[] _secrets = [.. Enumerable.Range(0, worldSize).Select(_ => RankSecret.New())];

    public string JobId => jobId;

    /// <summary>The job's own token, as its ranks send it.</summary>
    public Metadata Headers => headers;

    public string SecretOf(int rank) => _secrets[rank];

    /// <summary>Joins <paramref name="rank"/> from <paramref name="host"/> with the hash of its secret.</summary>
    public async Task<JoinReply> JoinAsync(int rank, string host = "node") =>
        await coordinator.Membership.JoinAsync(new JoinRequest
        {
            JobId = jobId, Rank = rank, WorldSize = worldSize, Host = host, Pid = 4000 + rank,
            RankSecretSha256 = RankSecret.Hash(_secrets[rank]),
        }, headers, StandingCoordinator.Deadline);

    public async Task<CheckpointInfo> BeginAsync(long step, string root) =>
        await coordinator.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = jobId, Step = step, CheckpointRoot = root }, headers,
            StandingCoordinator.Deadline);

    /// <summary>Begins <paramref name="step"/> in <paramref name="root"/>, writes rank 0's shard there and reports it (one rank).</summary>
    public async Task<CheckpointInfo> WriteShardAsync(long step, string root)
    {
        var info = await BeginAsync(step, root);
        var file = CheckpointFiles.ShardFileName(0, 1);
        var bytes = RandomNumberGenerator.GetBytes(128);
        await File.WriteAllBytesAsync(Path.Combine(info.Directory, file), bytes);
        await coordinator.Checkpoints.ReportShardAsync(new ReportShardRequest
        {
            JobId = jobId,
            CheckpointId = info.CheckpointId,
            Shard = new ShardInfo { Rank = 0, File = file, Bytes = bytes.Length, Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)) },
        }, headers, StandingCoordinator.Deadline);
        return info;
    }

    public async Task<CheckpointInfo> CommitAsync(CheckpointInfo info) =>
        await coordinator.Checkpoints.CommitAsync(new CommitCheckpointRequest
        {
            JobId = jobId, CheckpointId = info.CheckpointId, ManifestJson = TestManifests.Create(info.Step, worldSize).ToJson(),
        }, headers, StandingCoordinator.Deadline);

    public async Task<CheckpointInfo> AbortAsync(CheckpointInfo info, string reason) =>
        await coordinator.Checkpoints.AbortAsync(new AbortCheckpointRequest { JobId = jobId, CheckpointId = info.CheckpointId, Reason = reason },
            headers, StandingCoordinator.Deadline);
}
