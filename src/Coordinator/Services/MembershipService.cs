using Adan.Coordinator.State;
using Adan.Coordinator.V1;
using Grpc.Core;
using Microsoft.Extensions.Hosting;

namespace Adan.Coordinator.Services;

/// <summary>gRPC Membership: join, heartbeat, leave and the job-event stream.</summary>
internal sealed class MembershipService(JobRegistry jobs, IHostApplicationLifetime lifetime) : Membership.MembershipBase
{
    public override Task<JoinReply> Join(JoinRequest request, ServerCallContext context) => Task.FromResult(jobs.Join(request));

    public override Task<HeartbeatReply> Heartbeat(HeartbeatRequest request, ServerCallContext context) =>
        Task.FromResult(jobs.Heartbeat(request));

    public override Task<LeaveReply> Leave(LeaveRequest request, ServerCallContext context) => Task.FromResult(jobs.Leave(request));

    public override async Task Watch(WatchRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        var events = jobs.Subscribe(request.JobId, out var unsubscribe);
        // End streams when the host stops, or a restart would wait for Kestrel's shutdown timeout; clients reconnect.
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        try
        {
            await foreach (var jobEvent in events.ReadAllAsync(cancel.Token))
            {
                await responseStream.WriteAsync(jobEvent, cancel.Token);
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // The watcher went away or the server is stopping: nothing to report to anyone.
        }
        finally
        {
            unsubscribe();
        }
    }
}
