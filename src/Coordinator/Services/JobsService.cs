using Adan.Coordinator.Domain;
using Adan.Coordinator.V1;
using Grpc.Core;

namespace Adan.Coordinator.Services;

/// <summary>gRPC Jobs: creating a job with its own token, and a job's state, members and latest checkpoint.</summary>
internal sealed class JobsService(JobRegistry jobs, CheckpointCatalog catalog) : Jobs.JobsBase
{
    public override Task<JobStatusReply> Status(JobStatusRequest request, ServerCallContext context)
    {
        var status = jobs.Status(request.JobId);
        return Task.FromResult(ProtoMapping.ToMessage(status, catalog.Latest(request.JobId)?.Step ?? -1));
    }

    /// <remarks>Only the operator token reaches this: the auth interceptor refuses job tokens, as CreateJobRequest names no existing job.</remarks>
    public override Task<CreateJobReply> Create(CreateJobRequest request, ServerCallContext context)
    {
        var token = jobs.CreateJob(request.JobId, request.WorldSize, request.Restarts);
        return Task.FromResult(new CreateJobReply { JobId = request.JobId, JobToken = token, WorldSize = request.WorldSize });
    }
}
