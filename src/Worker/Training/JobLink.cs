using Adan.Coordinator.Client;
using Adan.Sharded.Schedules;

namespace Adan.Worker.Training;

/// <summary>
/// This rank's link to the coordinator when the job was started by <c>adan launch</c> (or with the
/// <c>ADAN_COORDINATOR</c>, <c>ADAN_JOB_TOKEN</c> and <c>ADAN_JOB_ID</c> variables): membership,
/// heartbeats, the job's learning-rate schedule and failure notification.
/// </summary>
internal sealed class JobLink : IAsyncDisposable
{
    public const string AddressVariable = Adan.Coordinator.Protocol.CoordinatorEnvironment.AddressVariable;
    public const string TokenVariable = Adan.Coordinator.Protocol.CoordinatorEnvironment.TokenVariable;
    public const string JobVariable = Adan.Coordinator.Protocol.CoordinatorEnvironment.JobVariable;

    private JobLink(CoordinatorClient client)
    {
        Client = client;
    }

    public CoordinatorClient Client { get; }

    /// <summary>Connects and joins when the environment names a coordinator; null otherwise.</summary>
    public static async Task<JobLink?> ConnectAsync(int rank, int worldSize, LearningRateSchedule schedule, Action<string> onFailure)
    {
        var address = Environment.GetEnvironmentVariable(AddressVariable);
        if (string.IsNullOrWhiteSpace(address))
        {
            return null;
        }
        var token = Environment.GetEnvironmentVariable(TokenVariable);
        var job = Environment.GetEnvironmentVariable(JobVariable);
        if (string.IsNullOrWhiteSpace(token) || string.IsNullOrWhiteSpace(job))
        {
            throw new InvalidOperationException($"{AddressVariable} is set but {TokenVariable} or {JobVariable} is not; set all three or none.");
        }
        var client = new CoordinatorClient(new CoordinatorClientOptions
        {
            Address = new Uri(address),
            Token = token,
            JobId = job,
            Rank = rank,
            WorldSize = worldSize,
        });
        client.JobFailed += (_, e) => onFailure(e.Reason);
        await client.JoinAsync(rank == 0 ? schedule : null);
        client.StartBackground();
        return new JobLink(client);
    }

    /// <summary>The job's schedule as the coordinator serves it (set by rank 0 at join).</summary>
    public Task<LearningRateSchedule> ScheduleAsync() => Client.GetScheduleAsync();

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
