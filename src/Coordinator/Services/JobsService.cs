using Adan.Coordinator.Domain;
using Adan.Coordinator.V1;
using Grpc.Core;

namespace Adan.Coordinator.Services;

/// <summary>gRPC Jobs: a job's state, members and latest checkpoint.</summary>
internal sealed class JobsService(JobRegistry jobs, CheckpointCatalog catalog) : Jobs.JobsBase
{
    public override Task<JobStatusReply> Status(JobStatusRequest request, ServerCallContext context)
    {
        var status = jobs.Status(request.JobId);
        return Task.FromResult(ProtoMapping.ToMessage(status, catalog.Latest(request.JobId)?.Step ?? -1));
    }
}
