using Adan.Coordinator.Client;
using Adan.Coordinator.Hosting;
using Adan.Coordinator.V1;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Time.Testing;

namespace Adan.Coordinator.Tests;

/// <summary>
/// A coordinator on an ephemeral loopback port with its own temporary data directory and a fake clock: heartbeat
/// deadlines pass when a test advances <see cref="Time"/>, never by waiting.
/// </summary>
internal sealed class TestCoordinator : IAsyncDisposable
{
    public const string Token = "test-token-0123456789";

    private CoordinatorHost? _host;

    private TestCoordinator(string dataDirectory, TimeSpan heartbeatTimeout, int keepLast, IReadOnlyList<string> checkpointRoots, TimeSpan jobTtl, int? maxWatchStreams,
        string? credentialsFile)
    {
        CredentialsFile = credentialsFile;
        DataDirectory = dataDirectory;
        HeartbeatTimeout = heartbeatTimeout;
        KeepLast = keepLast;
        CheckpointRoots = checkpointRoots;
        JobTtl = jobTtl;
        MaxWatchStreams = maxWatchStreams;
    }

    public IReadOnlyList<string> CheckpointRoots { get; }

    /// <summary>The submitter credentials file, or null for none.</summary>
    public string? CredentialsFile { get; }

    public TimeSpan JobTtl { get; }

    public int? MaxWatchStreams { get; }

    public string DataDirectory { get; }

    public TimeSpan HeartbeatTimeout { get; }

    public int KeepLast { get; }

    /// <summary>The coordinator's clock, shared across restarts.</summary>
    public FakeTimeProvider Time { get; } = new();

    public Uri Address { get; private set; } = null!;

    public GrpcChannel Channel { get; private set; } = null!;

    public Metadata Headers { get; } = new() { { "authorization", $"Bearer {Token}" } };

    /// <summary>Headers that present <paramref name="token"/>, e.g. a job's own token.</summary>
    public static Metadata HeadersFor(string token) => new() { { "authorization", $"Bearer {token}" } };

    /// <summary>The secret of rank <paramref name="rank"/> of <paramref name="jobId"/> in these tests: fixed, so a test's raw calls and its clients agree.</summary>
    public static string SecretOf(string jobId, int rank) => Protocol.RankSecret.Hash($"test secret of {jobId} rank {rank}");

    /// <summary>The SHA-256 of <see cref="SecretOf"/>, which a Join sends.</summary>
    public static string SecretHashOf(string jobId, int rank) => Protocol.RankSecret.Hash(SecretOf(jobId, rank));

    /// <summary>Creates a job with the operator token and returns the job's own token.</summary>
    public async Task<string> CreateJobAsync(string jobId, int worldSize) =>
        (await Jobs.CreateAsync(new CreateJobRequest { JobId = jobId, WorldSize = worldSize }, Headers)).JobToken;

    public static async Task<TestCoordinator> StartAsync(TimeSpan? heartbeatTimeout = null, int keepLast = 3, string? dataDirectory = null,
        IReadOnlyList<string>? checkpointRoots = null, TimeSpan? jobTtl = null, int? maxWatchStreams = null, string? credentialsFile = null)
    {
        var directory = dataDirectory ?? Directory.CreateTempSubdirectory("adan-coord-").FullName;
        var coordinator = new TestCoordinator(directory, heartbeatTimeout ?? TimeSpan.FromSeconds(30), keepLast, checkpointRoots ?? [],
            jobTtl ?? TimeSpan.FromHours(1), maxWatchStreams, credentialsFile);
        await coordinator.StartHostAsync();
        return coordinator;
    }

    /// <summary>Stops the coordinator and starts a new one on the same data directory (a new port).</summary>
    public async Task RestartAsync()
    {
        await StopHostAsync();
        await StartHostAsync();
    }

    /// <summary>Re-reads the credentials file now, as SIGHUP does; false when it could not be read.</summary>
    public bool ReloadCredentials() => _host!.ReloadCredentials();

    /// <summary>Completes when retention's background deletions queued so far are done.</summary>
    public Task WhenRetentionDone() => _host?.WhenRetentionDone() ?? Task.CompletedTask;

    public Membership.MembershipClient Membership => new(Channel);

    public Checkpoints.CheckpointsClient Checkpoints => new(Channel);

    public Adan.Coordinator.V1.Schedule.ScheduleClient Schedule => new(Channel);

    public Jobs.JobsClient Jobs => new(Channel);

    public CoordinatorClient Client(string jobId, int rank, int worldSize, int? pid = null) =>
        new(new CoordinatorClientOptions
        {
            Address = Address,
            Token = Token,
            JobId = jobId,
            Rank = rank,
            WorldSize = worldSize,
            Host = "test-host",
            Pid = pid ?? 1000 + rank,
            RankSecret = SecretOf(jobId, rank),
            CallTimeout = TimeSpan.FromSeconds(10),
        }, Channel);

    /// <summary>Joins ranks [0, W) directly (no background loops).</summary>
    public async Task JoinAllAsync(string jobId, int worldSize, Adan.Coordinator.V1.LearningRateSchedule? schedule = null)
    {
        for (var rank = 0; rank < worldSize; rank++)
        {
            await Membership.JoinAsync(new JoinRequest
            {
                JobId = jobId,
                Rank = rank,
                WorldSize = worldSize,
                Host = "test-host",
                Pid = 1000 + rank,
                Schedule = rank == 0 ? schedule : null,
                RankSecretSha256 = SecretHashOf(jobId, rank),
            }, Headers);
        }
    }

    /// <summary>
    /// Opens a Watch on <paramref name="jobId"/> and reads its snapshot, so the stream is subscribed before the caller
    /// moves the clock; read the later events from the returned call.
    /// </summary>
    public async Task<AsyncServerStreamingCall<JobEvent>> WatchAsync(string jobId)
    {
        var call = Membership.Watch(new WatchRequest { JobId = jobId, Rank = -1 }, Headers);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(JobEventKind.Snapshot, call.ResponseStream.Current.Kind);
        return call;
    }

    /// <summary>Reads events from a watch until one of <paramref name="kind"/> (at most 10 s, so a bug fails instead of hanging).</summary>
    public static async Task<JobEvent> NextAsync(AsyncServerStreamingCall<JobEvent> call, JobEventKind kind)
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (await call.ResponseStream.MoveNext(bound.Token))
        {
            if (call.ResponseStream.Current.Kind == kind)
            {
                return call.ResponseStream.Current;
            }
        }
        throw new InvalidOperationException($"the watch ended without a {kind} event");
    }

    public async ValueTask DisposeAsync()
    {
        await StopHostAsync();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp directory is not a test failure.
        }
    }

    private async Task StartHostAsync()
    {
        _host = new CoordinatorHost(new CoordinatorOptions
        {
            Listen = new ListenAddress("127.0.0.1", 0),
            Token = Token,
            DataDirectory = DataDirectory,
            HeartbeatTimeout = HeartbeatTimeout,
            KeepLast = KeepLast,
            CheckpointRoots = CheckpointRoots,
            JobTtl = JobTtl,
            MaxWatchStreamsPerJob = MaxWatchStreams,
            TimeProvider = Time,
            CredentialsFile = CredentialsFile,
        });
        Address = await _host.StartAsync();
        Channel = GrpcChannel.ForAddress(Address, new GrpcChannelOptions
        {
            // Many simulated ranks share this channel; more connections avoid one HTTP/2 stream limit.
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
        });
    }

    private async Task StopHostAsync()
    {
        Channel?.Dispose();
        if (_host is not null)
        {
            await _host.DisposeAsync();
            _host = null;
        }
    }
}
