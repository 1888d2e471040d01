using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text.Json;
using Adan.Coordinator.V1;
using Adan.Sharded.Checkpoints;
using Adan.Worker.Tests.Cli;
using Grpc.Core;
using Grpc.Net.Client;

namespace Adan.Worker.Tests.Security;

/// <summary>
/// The built coordinator, started as a process (<c>adan coordinator</c>) with credentials for the submitters alice and
/// bob and one permitted checkpoint root, and alice's legitimate job, run for real by <c>adan launch --coordinator</c>
/// with her credential before any attack: the victim whose committed checkpoints every black-box attack ends by
/// comparing, bit for bit, with <see cref="AliceSnapshot"/>.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class StandingCoordinator : IAsyncLifetime
{
    /// <summary>Alice's legitimate job, whose checkpoints are the victim.</summary>
    public const string AliceJob = "alice-1";

    /// <summary>Steps between alice's saves: her one-epoch run saves twice.</summary>
    public const int CheckpointEvery = 2;

    private const string OperatorToken = "black-box-operator-token-that-no-attacker-holds";
    private static readonly TimeSpan s_callBound = TimeSpan.FromSeconds(30);
    private readonly TestFiles.TempDirectory _temp = TestFiles.CreateTempDirectory();
    private Process? _process;
    private Task<string>? _log;
    private GrpcChannel? _channel;
    private string _url = "";

    /// <summary>The permitted checkpoint root (<c>--checkpoint-root</c>), under which every job's root lies.</summary>
    public string Runs => Path.Combine(_temp.Path, "runs");

    /// <summary>Alice's checkpoint root, which her credential owns after her first save.</summary>
    public string AliceCheckpoints => Path.Combine(Runs, "alice", "checkpoints");

    /// <summary>The coordinator's data directory (database, <c>audit.jsonl</c>).</summary>
    public string DataDirectory => Path.Combine(_temp.Path, "data");

    /// <summary>A scratch directory outside every checkpoint root, for victims of planted links.</summary>
    public string Scratch => Path.Combine(_temp.Path, "scratch");

    /// <summary>The coordinator's address, as its <c>listening on</c> line gave it.</summary>
    public Uri Address => new(_url);

    /// <summary>Alice's committed checkpoints after her launch: directory → every file's name, kind and SHA-256.</summary>
    public IReadOnlyDictionary<string, string> AliceSnapshot { get; private set; } = new Dictionary<string, string>();

    public Membership.MembershipClient Membership => new(_channel);

    public Checkpoints.CheckpointsClient Checkpoints => new(_channel);

    public Jobs.JobsClient Jobs => new(_channel);

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Runs);
        Directory.CreateDirectory(Scratch);
        // The operator issues one credential per submitter; each gets only its secret file.
        var lines = new List<string>();
        foreach (var name in new[] { "alice", "bob" })
        {
            var issued = AdanCli.Run(["coordinator", "hash-credential", name, "--secret-file", SecretFile(name)], TimeSpan.FromSeconds(60));
            Assert.True(issued.ExitCode == 0, issued.Describe());
            lines.Add(issued.Stdout.Trim());
        }
        var credentials = Path.Combine(_temp.Path, "credentials");
        File.WriteAllLines(credentials, lines);
        File.SetUnixFileMode(credentials, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        // --keep-last 0: the coordinator's retention never deletes alice's checkpoints, so any change is an attack's.
        _process = AdanCli.Start(["coordinator", "--listen", "127.0.0.1:0", "--data-dir", DataDirectory, "--credentials-file", credentials,
            "--checkpoint-root", Runs, "--keep-last", "0"], new Dictionary<string, string> { ["ADAN_JOB_TOKEN"] = OperatorToken });
        var listening = await _process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(listening?.StartsWith("listening on ", StringComparison.Ordinal) == true, $"coordinator said '{listening}'");
        _url = listening!["listening on ".Length..];
        _ = _process.StandardOutput.ReadToEndAsync();
        _log = _process.StandardError.ReadToEndAsync();
        _channel = GrpcChannel.ForAddress(_url);

        var alice = Launch(AliceJob, Path.Combine(Runs, "alice"));
        Assert.True(alice.ExitCode == 0, alice.Describe());
        AliceSnapshot = Snapshot(AliceCheckpoints);
        Assert.NotEmpty(AliceSnapshot);
    }

    /// <summary>The file holding <paramref name="credential"/>'s secret (mode 0600), as its submitter keeps it.</summary>
    public string SecretFile(string credential) => Path.Combine(_temp.Path, $"{credential}.token");

    /// <summary>Headers that present <paramref name="credential"/>'s secret.</summary>
    public Metadata As(string credential) => Bearer(File.ReadAllText(SecretFile(credential)).Trim());

    /// <summary>Headers that present the operator token.</summary>
    public Metadata Operator => Bearer(OperatorToken);

    /// <summary>The deadline of one call: generous on a busy machine, finite so that a stalled call fails.</summary>
    public static DateTime Deadline => DateTime.UtcNow + s_callBound;

    public static Metadata Bearer(string token) => new() { { "authorization", $"Bearer {token}" } };

    /// <summary>
    /// Runs one rank of the tiny training run with alice's credential through <c>adan launch --coordinator</c>,
    /// saving every <see cref="CheckpointEvery"/> steps into <paramref name="runDirectory"/>'s <c>checkpoints</c>.
    /// </summary>
    internal CliResult Launch(string jobId, string runDirectory, params string[] extra) =>
        AdanCli.Run(["launch", "-n", "1", "--coordinator", _url, "--token-file", SecretFile("alice"), "--job-id", jobId, "--",
            .. AdanCli.TinyTrain, "--set", $"checkpoint_every={CheckpointEvery}", "--set", $"run_dir={runDirectory}", .. extra], TimeSpan.FromMinutes(2));

    /// <summary>
    /// Alice resumes from her latest checkpoint into a fresh <paramref name="runDirectory"/> for a second epoch (as many
    /// saves as the first), leaving her first root as it was so that every test can compare it with the snapshot.
    /// </summary>
    internal CliResult ResumeAlice(string jobId, string runDirectory) =>
        Launch(jobId, runDirectory, "--set", $"resume={AliceLatest}", "--set", "epochs=2", "--set", "allow_hparam_change=true");

    /// <summary>The directory of alice's newest committed checkpoint.</summary>
    public string AliceLatest => AliceSnapshot.Keys.Max(StringComparer.Ordinal)!;

    /// <summary>The step of <see cref="AliceLatest"/>, the last of her first epoch.</summary>
    public long AliceLatestStep => long.Parse(Path.GetFileName(AliceLatest)["step-".Length..], CultureInfo.InvariantCulture);

    /// <summary>
    /// Alice's committed checkpoints are exactly the snapshot (no file changed, replaced by a link, added or removed,
    /// no checkpoint added or removed), and the coordinator, still serving, names the newest as her job's latest.
    /// </summary>
    public async Task AssertAliceIntactAsync()
    {
        var now = Snapshot(AliceCheckpoints);
        Assert.Equal(AliceSnapshot.Keys.Order(StringComparer.Ordinal), now.Keys.Order(StringComparer.Ordinal));
        foreach (var (directory, files) in AliceSnapshot)
        {
            Assert.True(files == now[directory], $"{directory} changed:\nbefore {files}\nafter  {now[directory]}");
        }
        var latest = (await Checkpoints.LatestAsync(new LatestCheckpointRequest { JobId = AliceJob }, Operator, Deadline)).Checkpoint;
        Assert.NotNull(latest);
        Assert.Equal(AliceLatest, latest.Directory);
        Assert.Equal(CheckpointState.Committed, latest.State);
    }

    /// <summary>Creates a job with <paramref name="credential"/> (as <c>adan launch</c> does) whose ranks the test plays.</summary>
    /// <param name="join">Whether every rank joins at once (the job is then RUNNING).</param>
    internal async Task<PlayedJob> CreateJobAsync(string credential, string jobId, int worldSize = 1, bool join = true)
    {
        var created = await Jobs.CreateAsync(new CreateJobRequest { JobId = jobId, WorldSize = worldSize }, As(credential), Deadline);
        var job = new PlayedJob(this, jobId, worldSize, Bearer(created.JobToken));
        for (var rank = 0; join && rank < worldSize; rank++)
        {
            await job.JoinAsync(rank);
        }
        return job;
    }

    /// <summary>The audit log's events of <paramref name="credential"/>, as (event, reason) pairs.</summary>
    public List<(string? Event, string? Reason)> AuditOf(string credential) =>
        [.. File.ReadAllLines(Path.Combine(DataDirectory, "audit.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("credential").ValueKind == JsonValueKind.String && e.GetProperty("credential").GetString() == credential)
            .Select(e => (e.GetProperty("event").GetString(), e.TryGetProperty("reason", out var r) ? r.GetString() : null))];

    /// <summary>The committed checkpoints under <paramref name="root"/>: directory → each entry's name, kind and SHA-256.</summary>
    public static Dictionary<string, string> Snapshot(string root) =>
        CheckpointFiles.Committed(root).ToDictionary(c => c.Directory, c => string.Join(" ",
            new DirectoryInfo(c.Directory).EnumerateFileSystemInfos().OrderBy(f => f.Name, StringComparer.Ordinal).Select(Describe)));

    private static string Describe(FileSystemInfo entry) => entry switch
    {
        { LinkTarget: { } target } => $"{entry.Name}:link->{target}",
        FileInfo file => $"{entry.Name}:{Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file.FullName)))}",
        _ => $"{entry.Name}:directory",
    };

    public async Task DisposeAsync()
    {
        _channel?.Dispose();
        if (_process is not null)
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
            await _process.WaitForExitAsync();
            if (_log is not null)
            {
                await _log;
            }
            _process.Dispose();
        }
        _temp.Dispose();
    }
}
