using Adan.Coordinator.Protocol;
using Adan.Coordinator.V1;
using Grpc.Core;
using CoordinatorException = Adan.Coordinator.Domain.CoordinatorException;
using JobRegistry = Adan.Coordinator.Domain.JobRegistry;
using Microsoft.Extensions.Hosting;
using static Adan.Coordinator.Services.ProtoMapping;

namespace Adan.Coordinator.Services;

/// <summary>gRPC Membership: join, heartbeat, leave and the job-event stream.</summary>
internal sealed class MembershipService(JobRegistry jobs, IHostApplicationLifetime lifetime) : Membership.MembershipBase
{
    public override Task<JoinReply> Join(JoinRequest request, ServerCallContext context)
    {
        // Required on the wire (an empty hash is refused): a member without one could be acted for by anyone holding the job's token.
        var joined = jobs.Join(request.JobId, request.Rank, request.WorldSize, request.Host, request.Pid, ScheduleOf(request),
            request.RankSecretSha256, SecretOf(request.RankSecret));
        return Task.FromResult(new JoinReply
        {
            State = ToMessage(joined.State),
            Joined = joined.Joined,
            HeartbeatIntervalMs = (long)joined.HeartbeatInterval.TotalMilliseconds,
            HeartbeatTimeoutMs = (long)joined.HeartbeatTimeout.TotalMilliseconds,
        });
    }

    public override Task<HeartbeatReply> Heartbeat(HeartbeatRequest request, ServerCallContext context)
    {
        var condition = jobs.Heartbeat(request.JobId, request.Rank, request.Step, request.Progress,
            TimeSpan.FromMilliseconds(Math.Max(0, request.LongestProgressIntervalMs)), SecretOf(request.RankSecret));
        return Task.FromResult(new HeartbeatReply { State = ToMessage(condition.State), Reason = condition.Reason });
    }

    public override Task<ReportFailureReply> ReportFailure(ReportFailureRequest request, ServerCallContext context)
    {
        var condition = jobs.ReportFailure(request.JobId, request.Rank, request.WorldSize, request.Host, request.Pid, request.Message,
            SecretOf(request.RankSecret));
        return Task.FromResult(new ReportFailureReply { State = ToMessage(condition.State), Reason = condition.Reason });
    }

    public override Task<LeaveReply> Leave(LeaveRequest request, ServerCallContext context) =>
        Task.FromResult(new LeaveReply { State = ToMessage(jobs.Leave(request.JobId, request.Rank, SecretOf(request.RankSecret))) });

    public override async Task Watch(WatchRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        var events = jobs.Subscribe(request.JobId, request.Rank, out var unsubscribe, SecretOf(request.RankSecret));
        // End streams when the host stops, or a restart would wait for Kestrel's shutdown timeout; clients reconnect.
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        var lostByWatcher = false;
        try
        {
            await foreach (var jobEvent in events.ReadAllAsync(cancel.Token))
            {
                await responseStream.WriteAsync(ToMessage(jobEvent), cancel.Token);
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // The watcher went away or the server is stopping. A rank that went away (not one this coordinator let go)
            // ended or lost its link.
            lostByWatcher = context.CancellationToken.IsCancellationRequested && !lifetime.ApplicationStopping.IsCancellationRequested;
        }
        finally
        {
            unsubscribe(lostByWatcher);
        }
    }

    /// <summary>The secret a call carries; proto3's empty string is "none".</summary>
    private static string? SecretOf(string secret) => secret.Length > 0 ? secret : null;

    /// <summary>Rank 0's schedule; what other ranks send is ignored, as the protocol documents.</summary>
    private static Sharded.Schedules.LearningRateSchedule? ScheduleOf(JoinRequest request)
    {
        if (request.Rank != 0 || request.Schedule is null)
        {
            return null;
        }
        try
        {
            return ScheduleMapping.ToSchedule(request.Schedule);
        }
        catch (ArgumentException e)
        {
            throw CoordinatorException.InvalidArgument($"invalid learning-rate schedule: {e.Message}");
        }
    }
}
