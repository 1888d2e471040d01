namespace Adan.Coordinator.V1;

/// <summary>
/// A request that acts on one job, named by its <c>job_id</c>: a job token may only send it for its own job. The
/// server's authorisation reads the job id through this interface, so a new job-scoped message only has to be listed
/// here to be covered.
/// </summary>
public interface IJobScopedRequest
{
    /// <summary>The job the request acts on.</summary>
    string JobId { get; }
}

public sealed partial class JoinRequest : IJobScopedRequest;

public sealed partial class HeartbeatRequest : IJobScopedRequest;

public sealed partial class ReportFailureRequest : IJobScopedRequest;

public sealed partial class LeaveRequest : IJobScopedRequest;

public sealed partial class WatchRequest : IJobScopedRequest;

public sealed partial class LearningRateRequest : IJobScopedRequest;

public sealed partial class GetScheduleRequest : IJobScopedRequest;

public sealed partial class BeginCheckpointRequest : IJobScopedRequest;

public sealed partial class ReportShardRequest : IJobScopedRequest;

public sealed partial class CommitCheckpointRequest : IJobScopedRequest;

public sealed partial class AbortCheckpointRequest : IJobScopedRequest;

public sealed partial class LatestCheckpointRequest : IJobScopedRequest;

public sealed partial class ListCheckpointsRequest : IJobScopedRequest;

public sealed partial class JobStatusRequest : IJobScopedRequest;
