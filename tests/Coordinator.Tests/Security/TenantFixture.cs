using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text.Json;
using Adan.Coordinator.Auth;
using Adan.Coordinator.V1;
using Adan.Sharded.Checkpoints;
using Adan.TestSupport;
using Grpc.Core;

namespace Adan.Coordinator.Tests.Security;

/// <summary>
/// A coordinator with a credentials file and a permitted checkpoint root, and the submitters' side of it: create a job
/// with a credential, join it, and save checkpoints with the job's own token, as <c>adan launch</c> and its ranks do.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal sealed class TenantFixture : IAsyncDisposable
{
    private TenantFixture(TestCoordinator coordinator, string directory, Dictionary<string, string> secrets)
    {
        Coordinator = coordinator;
        Directory = directory;
        Secrets = secrets;
    }

    public TestCoordinator Coordinator { get; }

    /// <summary>Temporary directory holding the credentials file and the permitted checkpoint root.</summary>
    public string Directory { get; }

    /// <summary>The permitted checkpoint root, under which each test names its jobs' roots.</summary>
    public string Runs => Path.Combine(Directory, "runs");

    public string CredentialsFile => Path.Combine(Directory, "credentials");

    /// <summary>Secrets by credential name.</summary>
    public Dictionary<string, string> Secrets { get; }

    /// <summary>Starts a coordinator whose credentials file holds a fresh secret for each of <paramref name="names"/>.</summary>
    public static async Task<TenantFixture> StartAsync(string[] names, int keepLast = 3, string? dataDirectory = null)
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("adan-tenants-").FullName;
        System.IO.Directory.CreateDirectory(Path.Combine(directory, "runs"));
        var secrets = names.ToDictionary(n => n, _ => Auth.CredentialsFile.NewSecret());
        var file = Path.Combine(directory, "credentials");
        WriteCredentials(file, [.. secrets.Select(s => Auth.CredentialsFile.Line(s.Key, s.Value, null))]);
        var coordinator = await TestCoordinator.StartAsync(keepLast: keepLast, checkpointRoots: [Path.Combine(directory, "runs")], credentialsFile: file,
            dataDirectory: dataDirectory);
        return new TenantFixture(coordinator, directory, secrets);
    }

    /// <summary>Writes the credentials file as an operator would (mode 0600).</summary>
    public static void WriteCredentials(string file, IEnumerable<string> lines)
    {
        var temporary = file + ".new";
        File.WriteAllLines(temporary, lines);
        File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temporary, file, overwrite: true);
    }

    public Metadata As(string credential) => TestCoordinator.HeadersFor(Secrets[credential]);

    /// <summary>Creates a one-rank job with <paramref name="credential"/>, joins it with the job's token and returns that token's headers.</summary>
    public async Task<Metadata> StartJobAsync(string credential, string jobId)
    {
        var created = await Coordinator.Jobs.CreateAsync(new CreateJobRequest { JobId = jobId, WorldSize = 1 }, As(credential));
        var job = TestCoordinator.HeadersFor(created.JobToken);
        await Coordinator.Membership.JoinAsync(new JoinRequest { JobId = jobId, Rank = 0, WorldSize = 1, Host = "h", Pid = 1, RankSecretSha256 = TestCoordinator.SecretHashOf(jobId, 0) }, job);
        return job;
    }

    /// <summary>Begins <paramref name="step"/> in <paramref name="root"/>, writes and reports the one shard.</summary>
    public async Task<CheckpointInfo> WriteShardAsync(Metadata job, string jobId, string root, long step)
    {
        var info = await Coordinator.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = jobId, Step = step, CheckpointRoot = root }, job);
        var file = CheckpointFiles.ShardFileName(0, 1);
        var bytes = new byte[64];
        new Random((int)step).NextBytes(bytes);
        await File.WriteAllBytesAsync(Path.Combine(info.Directory, file), bytes);
        await Coordinator.Checkpoints.ReportShardAsync(new ReportShardRequest
        {
            JobId = jobId,
            CheckpointId = info.CheckpointId,
            Shard = new ShardInfo { Rank = 0, File = file, Bytes = bytes.Length, Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)) },
        }, job);
        return info;
    }

    /// <summary>Saves and commits <paramref name="step"/> in <paramref name="root"/>.</summary>
    public async Task<CheckpointInfo> SaveAsync(Metadata job, string jobId, string root, long step)
    {
        var info = await WriteShardAsync(job, jobId, root, step);
        return await Coordinator.Checkpoints.CommitAsync(new CommitCheckpointRequest
        {
            JobId = jobId,
            CheckpointId = info.CheckpointId,
            ManifestJson = TestManifests.Create(step, 1).ToJson(),
        }, job);
    }

    /// <summary>The committed checkpoints in <paramref name="root"/> with each manifest's bytes, to compare before and after an attack.</summary>
    public static Dictionary<string, string> Snapshot(string root) =>
        CheckpointFiles.Committed(root).ToDictionary(c => c.Directory, c => File.ReadAllText(Path.Combine(c.Directory, CheckpointManifest.FileName))
            + string.Concat(System.IO.Directory.EnumerateFiles(c.Directory, "shard-*").Order().Select(f => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(f))))));

    /// <summary>The audit log's lines, parsed.</summary>
    public List<JsonElement> Audit() =>
        [.. File.ReadAllLines(Path.Combine(Coordinator.DataDirectory, Adan.Coordinator.Domain.AuditLog.FileName)).Select(l => JsonDocument.Parse(l).RootElement)];

    public async ValueTask DisposeAsync()
    {
        await Coordinator.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp directory is not a test failure.
        }
    }
}
