using Adan.Coordinator.State;
using Adan.Coordinator.V1;
using Grpc.Core;

namespace Adan.Coordinator.Services;

/// <summary>gRPC Jobs: a job's state, members and latest checkpoint.</summary>
internal sealed class JobsService(JobRegistry jobs, CheckpointCatalog catalog) : Jobs.JobsBase
{
    public override Task<JobStatusReply> Status(JobStatusRequest request, ServerCallContext context)
    {
        var reply = jobs.Status(request.JobId);
        reply.LatestCheckpointStep = catalog.Latest(request.JobId)?.Step ?? -1;
        return Task.FromResult(reply);
    }
}
