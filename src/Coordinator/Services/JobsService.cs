using Adan.Coordinator.Auth;
using Adan.Coordinator.Domain;
using Adan.Coordinator.V1;
using Grpc.Core;

namespace Adan.Coordinator.Services;

/// <summary>gRPC Jobs: creating a job with its own token, and a job's state, members and latest checkpoint.</summary>
internal sealed class JobsService(JobRegistry jobs, CheckpointCatalog catalog, JobSubmitters submitters, AuditLog audit) : Jobs.JobsBase
{
    public override Task<JobStatusReply> Status(JobStatusRequest request, ServerCallContext context)
    {
        var status = jobs.Status(request.JobId);
        return Task.FromResult(ProtoMapping.ToMessage(status, catalog.Latest(request.JobId)?.Step ?? -1));
    }

    /// <remarks>
    /// Only the operator token and submitter credentials reach this (the auth interceptor refuses job tokens); the job
    /// belongs to the credential that created it, which alone may then act on it and owns the roots it checkpoints in.
    /// </remarks>
    public override Task<CreateJobReply> Create(CreateJobRequest request, ServerCallContext context)
    {
        var credential = Caller.Of(context).Credential
            ?? throw CoordinatorException.PermissionDenied("a job token cannot create jobs");
        var token = jobs.CreateJob(request.JobId, request.WorldSize, request.Restarts);
        if (credential != Caller.OperatorName)
        {
            submitters.Record(request.JobId, credential);
        }
        audit.Record(AuditLog.Events.JobCreated, credential, ("job", request.JobId), ("world_size", request.WorldSize), ("restarts", request.Restarts),
            ("peer", context.Peer));
        return Task.FromResult(new CreateJobReply { JobId = request.JobId, JobToken = token, WorldSize = request.WorldSize });
    }
}
