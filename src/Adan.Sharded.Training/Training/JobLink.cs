using Adan.Coordinator.Client;
using Adan.Coordinator.Protocol;
using Adan.Sharded.Collectives;
using Adan.Sharded.Schedules;
using Grpc.Core;

namespace Adan.Sharded.Training;

/// <summary>
/// This rank's link to the coordinator when the job was started by <c>adan launch</c> (or with the
/// <c>ADAN_COORDINATOR</c>, <c>ADAN_JOB_TOKEN</c> and <c>ADAN_JOB_ID</c> variables): membership,
/// heartbeats with the step reached, the job's learning-rate schedule and failure notification.
/// </summary>
/// <remarks>
/// When the coordinator declares the job failed (a rank failed, went silent or stalled), or has not answered for the
/// heartbeat timeout, this rank ends through <see cref="RankAbort"/>: it may be blocked in a collective the failed rank
/// will never join, and only ending the process frees it. Progress marks (<see cref="ReportStep"/>,
/// <see cref="MarkProgress"/>) let the coordinator tell a rank that trains from one whose heartbeat thread alone lives.
/// </remarks>
internal sealed class JobLink : IAsyncDisposable
{
    private readonly ICollective _collective;
    private readonly LearningRateSchedule _ownSchedule;

    private JobLink(CoordinatorClient client, ICollective collective, LearningRateSchedule ownSchedule)
    {
        Client = client;
        _collective = collective;
        _ownSchedule = ownSchedule;
    }

    /// <summary>The joined client, which the coordinator's checkpoint catalogue commits through.</summary>
    public CoordinatorClient Client { get; }

    /// <summary>Connects and joins when the environment names a coordinator; null otherwise.</summary>
    /// <param name="collective">The job's ranks.</param>
    /// <param name="schedule">The job's learning-rate schedule, which rank 0 registers at join.</param>
    /// <param name="abort">Ends this rank when the coordinator declares the job failed or is gone.</param>
    public static async Task<JobLink?> ConnectAsync(ICollective collective, LearningRateSchedule schedule, RankAbort abort)
    {
        if (JobEnvironment.ClientOptions(collective.Rank, collective.WorldSize) is not { } options)
        {
            return null;
        }
        var client = new CoordinatorClient(options);
        client.JobFailed += (_, e) => abort.Terminate($"the job failed: {e.Reason}");
        try
        {
            await client.JoinAsync(collective.Rank == 0 ? schedule : null);
        }
        catch (RpcException e)
        {
            await client.DisposeAsync();
            throw new IOException(JoinRefusal(options.Address, e), e);
        }
        client.StartBackground();
        return new JobLink(client, collective, schedule);
    }

    /// <summary>One line for a Join the coordinator refused or never answered: the URL, the reason and the fix.</summary>
    private static string JoinRefusal(Uri url, RpcException e)
    {
        var at = url.GetLeftPart(UriPartial.Authority);
        return e.StatusCode switch
        {
            StatusCode.Unauthenticated or StatusCode.PermissionDenied =>
                $"the coordinator at {at} refused the token in {CoordinatorEnvironment.TokenVariable}: {e.Status.Detail} (start the job with adan launch, which gives every rank its job's token)",
            StatusCode.Unavailable or StatusCode.DeadlineExceeded =>
                $"cannot reach the coordinator at {at}: {e.Status.DebugException?.InnerException?.Message ?? (string.IsNullOrEmpty(e.Status.Detail) ? e.StatusCode.ToString() : e.Status.Detail)} (is it running, and is {CoordinatorEnvironment.AddressVariable} right?)",
            _ => $"the coordinator at {at} refused the join: {e.Status.Detail}",
        };
    }

    /// <summary>
    /// The job's schedule as the coordinator serves it, read once every rank has joined (rank 0 set it at join), and
    /// checked against this rank's own (<see cref="ServedSchedule"/>).
    /// </summary>
    /// <remarks>Collective: every rank must call.</remarks>
    /// <exception cref="InvalidDataException">The served schedule is invalid, for another world size, or its peak is absurd.</exception>
    public async Task<LearningRateSchedule> ScheduleAsync()
    {
        _collective.Barrier();
        LearningRateSchedule served;
        try
        {
            served = await Client.GetScheduleAsync();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"the learning-rate schedule the coordinator served was refused: {e.Message}", e);
        }
        return ServedSchedule.Check(_ownSchedule, served);
    }

    /// <summary>Records the optimizer steps done, and a progress mark, which the next heartbeat reports.</summary>
    public void ReportStep(long step)
    {
        Client.Step = step;
        Client.MarkProgress();
    }

    /// <summary>
    /// Records a progress mark: called at the start and end of each checkpoint save and evaluation, so that the
    /// coordinator does not take them for a stall (see <c>--stall-timeout</c>).
    /// </summary>
    public void MarkProgress() => Client.MarkProgress();

    /// <summary>Leaves the job and closes the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await Client.LeaveAsync();
        }
        finally
        {
            await Client.DisposeAsync();
        }
    }
}
