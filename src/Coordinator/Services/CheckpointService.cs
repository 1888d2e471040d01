using Adan.Coordinator.State;
using Adan.Coordinator.V1;
using Grpc.Core;

namespace Adan.Coordinator.Services;

/// <summary>gRPC Checkpoints: the two-phase commit over <see cref="CheckpointCatalog"/>.</summary>
internal sealed class CheckpointService(CheckpointCatalog catalog) : Checkpoints.CheckpointsBase
{
    public override Task<CheckpointInfo> Begin(BeginCheckpointRequest request, ServerCallContext context) =>
        Task.FromResult(catalog.Begin(request));

    public override Task<ReportShardReply> ReportShard(ReportShardRequest request, ServerCallContext context) =>
        Task.FromResult(catalog.ReportShard(request));

    public override Task<CheckpointInfo> Commit(CommitCheckpointRequest request, ServerCallContext context) =>
        Task.FromResult(catalog.Commit(request));

    public override Task<CheckpointInfo> Abort(AbortCheckpointRequest request, ServerCallContext context) =>
        Task.FromResult(catalog.Abort(request));

    public override Task<LatestCheckpointReply> Latest(LatestCheckpointRequest request, ServerCallContext context) =>
        Task.FromResult(new LatestCheckpointReply { Checkpoint = catalog.Latest(request.JobId) });

    public override Task<ListCheckpointsReply> List(ListCheckpointsRequest request, ServerCallContext context)
    {
        var reply = new ListCheckpointsReply();
        reply.Checkpoints.AddRange(catalog.List(request.JobId));
        return Task.FromResult(reply);
    }
}
