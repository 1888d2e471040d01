using Adan.Coordinator.Domain;
using Adan.Coordinator.V1;
using Adan.Sharded.Checkpoints;
using Grpc.Core;
using static Adan.Coordinator.Services.ProtoMapping;

namespace Adan.Coordinator.Services;

/// <summary>gRPC Checkpoints: the two-phase commit over <see cref="CheckpointCatalog"/>.</summary>
internal sealed class CheckpointService(CheckpointCatalog catalog) : Checkpoints.CheckpointsBase
{
    public override Task<CheckpointInfo> Begin(BeginCheckpointRequest request, ServerCallContext context) =>
        Task.FromResult(ToMessage(catalog.Begin(request.JobId, request.Step, request.CheckpointRoot)));

    public override Task<ReportShardReply> ReportShard(ReportShardRequest request, ServerCallContext context)
    {
        var shard = request.Shard ?? throw CoordinatorException.InvalidArgument("missing shard");
        var progress = catalog.ReportShard(request.JobId, request.CheckpointId, ToShard(shard));
        return Task.FromResult(new ReportShardReply { ShardsReceived = progress.Received, WorldSize = progress.WorldSize });
    }

    public override Task<CheckpointInfo> Commit(CommitCheckpointRequest request, ServerCallContext context)
    {
        // The body is the manifest's JSON document; the domain takes it typed.
        CheckpointManifest manifest;
        try
        {
            manifest = CheckpointManifest.Parse(request.ManifestJson, $"the manifest of checkpoint {request.CheckpointId}");
        }
        catch (CheckpointException e)
        {
            throw CoordinatorException.InvalidArgument(e.Message);
        }
        return Task.FromResult(ToMessage(catalog.Commit(request.JobId, request.CheckpointId, manifest)));
    }

    public override Task<CheckpointInfo> Abort(AbortCheckpointRequest request, ServerCallContext context) =>
        Task.FromResult(ToMessage(catalog.Abort(request.JobId, request.CheckpointId, request.Reason)));

    public override Task<LatestCheckpointReply> Latest(LatestCheckpointRequest request, ServerCallContext context) =>
        Task.FromResult(new LatestCheckpointReply { Checkpoint = catalog.Latest(request.JobId) is { } latest ? ToMessage(latest) : null });

    public override Task<ListCheckpointsReply> List(ListCheckpointsRequest request, ServerCallContext context)
    {
        var reply = new ListCheckpointsReply();
        reply.Checkpoints.AddRange(catalog.List(request.JobId).Select(ToMessage));
        return Task.FromResult(reply);
    }
}
