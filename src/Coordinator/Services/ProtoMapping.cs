using Adan.Coordinator.Domain;
using Adan.Sharded.Checkpoints;
using Proto = Adan.Coordinator.V1;

namespace Adan.Coordinator.Services;

/// <summary>Domain records to protobuf messages and back: the only place besides the services where both meet.</summary>
internal static class ProtoMapping
{
    public static Proto.JobState ToMessage(JobState state) => state switch
    {
        JobState.Pending => Proto.JobState.Pending,
        JobState.Running => Proto.JobState.Running,
        JobState.Failed => Proto.JobState.Failed,
        JobState.Finished => Proto.JobState.Finished,
        _ => Proto.JobState.Unspecified,
    };

    public static Proto.CheckpointState ToMessage(CheckpointState state) => state switch
    {
        CheckpointState.Open => Proto.CheckpointState.Open,
        CheckpointState.Committed => Proto.CheckpointState.Committed,
        CheckpointState.Aborted => Proto.CheckpointState.Aborted,
        CheckpointState.Deleted => Proto.CheckpointState.Deleted,
        _ => Proto.CheckpointState.Unspecified,
    };

    public static Proto.JobEventKind ToMessage(JobEventKind kind) => kind switch
    {
        JobEventKind.Snapshot => Proto.JobEventKind.Snapshot,
        JobEventKind.MemberJoined => Proto.JobEventKind.MemberJoined,
        JobEventKind.JobRunning => Proto.JobEventKind.JobRunning,
        JobEventKind.MemberLeft => Proto.JobEventKind.MemberLeft,
        JobEventKind.JobFailed => Proto.JobEventKind.JobFailed,
        JobEventKind.JobFinished => Proto.JobEventKind.JobFinished,
        JobEventKind.CheckpointCommitted => Proto.JobEventKind.CheckpointCommitted,
        _ => Proto.JobEventKind.Unspecified,
    };

    public static Proto.JobEvent ToMessage(JobEvent jobEvent) => new()
    {
        Kind = ToMessage(jobEvent.Kind),
        JobId = jobEvent.JobId,
        State = ToMessage(jobEvent.State),
        Rank = jobEvent.Rank,
        Message = jobEvent.Message,
        UnixTimeMs = jobEvent.Time.ToUnixTimeMilliseconds(),
        Step = jobEvent.Step,
    };

    public static Proto.CheckpointInfo ToMessage(CheckpointRecord checkpoint)
    {
        var info = new Proto.CheckpointInfo
        {
            CheckpointId = checkpoint.Id,
            JobId = checkpoint.JobId,
            Step = checkpoint.Step,
            State = ToMessage(checkpoint.State),
            Directory = checkpoint.Directory,
            ManifestPath = checkpoint.ManifestPath,
            WorldSize = checkpoint.WorldSize,
            CommittedUnixTimeMs = checkpoint.CommittedAt?.ToUnixTimeMilliseconds() ?? 0,
        };
        info.Shards.AddRange(checkpoint.Shards.Select(s => new Proto.ShardInfo { Rank = s.Rank, File = s.File, Bytes = s.Bytes, Sha256 = s.Sha256 }));
        return info;
    }

    public static CheckpointShard ToShard(Proto.ShardInfo shard) => new(shard.Rank, shard.File, shard.Bytes, shard.Sha256);

    public static Proto.JobStatusReply ToMessage(JobStatus status, long latestCheckpointStep)
    {
        var reply = new Proto.JobStatusReply
        {
            JobId = status.JobId,
            State = ToMessage(status.State),
            WorldSize = status.WorldSize,
            Reason = status.Reason,
            LatestCheckpointStep = latestCheckpointStep,
            Restarts = status.Restarts,
            FailedRank = status.FailedRank,
        };
        reply.Members.AddRange(status.Members.Select(m => new Proto.MemberStatus
        {
            Rank = m.Rank,
            Host = m.Host,
            Pid = m.Pid,
            SilentMs = m.Silence is { } silence ? (long)silence.TotalMilliseconds : -1,
            Step = m.Step,
            Left = m.Left,
            DisconnectedMs = m.Disconnection is { } disconnection ? (long)disconnection.TotalMilliseconds : -1,
        }));
        return reply;
    }
}
