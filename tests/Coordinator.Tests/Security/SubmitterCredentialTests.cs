using System.Runtime.Versioning;
using Adan.Coordinator.Auth;
using Adan.Coordinator.V1;
using Grpc.Core;

namespace Adan.Coordinator.Tests.Security;

/// <summary>
/// Submitter credentials (issue 28, item 2): they create jobs and act on their own only; the credentials file is re-read
/// without a restart (added, revoked, rotated); an expired or revoked credential is refused naming it; every refusal
/// and creation is an audit line.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class SubmitterCredentialTests
{
    [Fact]
    public async Task ASubmitterCredentialCreatesJobsAndActsOnlyOnItsOwn()
    {
        await using var t = await TenantFixture.StartAsync(["alice", "bob"]);
        var c = t.Coordinator;
        var a = await t.StartJobAsync("alice", "a");
        var b = await t.StartJobAsync("bob", "b");
        // Alice's credential acts on her job (status, watch) like the operator token did for the launcher.
        Assert.Equal(JobState.Running, (await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "a" }, t.As("alice"))).State);
        var attempts = new Func<Task>[]
        {
            async () => await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "b" }, t.As("alice")),
            async () => await c.Membership.ReportFailureAsync(new ReportFailureRequest { JobId = "b", Rank = 0, WorldSize = 1, Host = "h", Pid = 1, Message = "x" }, t.As("alice")),
            async () => await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = "b", Step = 1 }, t.As("alice")),
            // A job alice did not create cannot be made by joining it either.
            async () => await c.Membership.JoinAsync(new JoinRequest { JobId = "c", Rank = 0, WorldSize = 1, Host = "h", Pid = 1 }, t.As("alice")),
        };
        foreach (var attempt in attempts)
        {
            var e = await Assert.ThrowsAsync<RpcException>(attempt);
            Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
            Assert.StartsWith("credential 'alice' may only act on the jobs it created; job '", e.Status.Detail);
        }
        Assert.Equal(JobState.Running, (await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "b" }, b)).State);
        // A job's token still creates nothing.
        var byJob = await Assert.ThrowsAsync<RpcException>(async () => await c.Jobs.CreateAsync(new CreateJobRequest { JobId = "d", WorldSize = 1 }, a));
        Assert.Equal(StatusCode.PermissionDenied, byJob.StatusCode);

        var audit = t.Audit();
        Assert.Contains(audit, e => e.GetProperty("event").GetString() == "job.created" && e.GetProperty("credential").GetString() == "alice"
            && e.GetProperty("job").GetString() == "a");
        Assert.Equal(4, audit.Count(e => e.GetProperty("event").GetString() == "access.denied"
            && e.GetProperty("reason").GetString()!.StartsWith("credential 'alice' may only act", StringComparison.Ordinal)));
        // The job token's refused Create is charged to the credential whose job it is.
        Assert.Contains(audit, e => e.GetProperty("event").GetString() == "access.denied" && e.GetProperty("credential").GetString() == "alice"
            && e.GetProperty("job").GetString() == "a");
    }

    [Fact]
    public async Task ARevokedCredentialIsRefusedWithoutARestartAndARotationKeepsBothSecretsUntilTheOldLineGoes()
    {
        await using var t = await TenantFixture.StartAsync(["alice", "bob"]);
        var c = t.Coordinator;
        await c.Jobs.CreateAsync(new CreateJobRequest { JobId = "before", WorldSize = 1 }, t.As("alice"));
        var a = await t.StartJobAsync("alice", "a");
        // Rotation: alice gets a second secret beside the first; then bob's line goes (revoked).
        var rotated = CredentialsFile.NewSecret();
        TenantFixture.WriteCredentials(t.CredentialsFile,
        [
            CredentialsFile.Line("alice", t.Secrets["alice"], null),
            CredentialsFile.Line("alice", rotated, null),
        ]);
        Assert.True(c.ReloadCredentials());
        var revoked = await Assert.ThrowsAsync<RpcException>(async () =>
            await c.Jobs.CreateAsync(new CreateJobRequest { JobId = "by-bob", WorldSize = 1 }, t.As("bob")));
        Assert.Equal(StatusCode.Unauthenticated, revoked.StatusCode);
        Assert.Equal("credential 'bob' was revoked (removed from the coordinator's credentials file); ask the coordinator's operator for a new one", revoked.Status.Detail);
        await c.Jobs.CreateAsync(new CreateJobRequest { JobId = "rotated", WorldSize = 1 }, TestCoordinator.HeadersFor(rotated));
        // The rotated secret is the same credential: it acts on the job the old one created.
        Assert.Equal(JobState.Running, (await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "a" }, TestCoordinator.HeadersFor(rotated))).State);

        // A malformed file keeps the credentials in force (an editor's half-written save locks no one out).
        await File.WriteAllTextAsync(t.CredentialsFile, "alice:sha256:not-a-hash\n");
        Assert.False(c.ReloadCredentials());
        await c.Jobs.CreateAsync(new CreateJobRequest { JobId = "still", WorldSize = 1 }, t.As("alice"));
        // The job alice created keeps running with its own token.
        Assert.Equal(JobState.Running, (await c.Jobs.StatusAsync(new JobStatusRequest { JobId = "a" }, a)).State);
        Assert.Contains(t.Audit(), e => e.GetProperty("event").GetString() == "credential.refused" && e.GetProperty("credential").GetString() == "bob");
    }

    [Fact]
    public async Task AChangedFileIsPickedUpWithinAPollPeriod()
    {
        await using var t = await TenantFixture.StartAsync(["alice", "bob"]);
        var c = t.Coordinator;
        TenantFixture.WriteCredentials(t.CredentialsFile, [CredentialsFile.Line("bob", t.Secrets["bob"], null)]);
        // No SIGHUP, no reload call: the coordinator's clock passes one poll period.
        RpcException? refused = null;
        for (var i = 0; i < 200 && refused is null; i++)
        {
            c.Time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(10);
            try
            {
                await c.Jobs.CreateAsync(new CreateJobRequest { JobId = $"try-{i}", WorldSize = 1 }, t.As("alice"));
            }
            catch (RpcException e)
            {
                refused = e;
            }
        }
        Assert.NotNull(refused);
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        Assert.StartsWith("credential 'alice' was revoked", refused.Status.Detail);
        await c.Jobs.CreateAsync(new CreateJobRequest { JobId = "by-bob", WorldSize = 1 }, t.As("bob"));
    }

    [Fact]
    public async Task AnExpiredCredentialIsRefusedNamingItAndWhenItExpired()
    {
        await using var t = await TenantFixture.StartAsync(["alice"]);
        var c = t.Coordinator;
        var expires = c.Time.GetUtcNow().AddHours(1);
        TenantFixture.WriteCredentials(t.CredentialsFile, [CredentialsFile.Line("alice", t.Secrets["alice"], expires)]);
        Assert.True(c.ReloadCredentials());
        await c.Jobs.CreateAsync(new CreateJobRequest { JobId = "in-time", WorldSize = 1 }, t.As("alice"));
        c.Time.Advance(TimeSpan.FromHours(2));
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
            await c.Jobs.CreateAsync(new CreateJobRequest { JobId = "late", WorldSize = 1 }, t.As("alice")));
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        Assert.StartsWith($"credential 'alice' expired at {expires.UtcDateTime:yyyy-MM-ddTHH:mm:ss}Z", e.Status.Detail);
        Assert.Contains(t.Audit(), line => line.GetProperty("event").GetString() == "credential.refused" && line.GetProperty("credential").GetString() == "alice");
    }

    [Theory]
    [InlineData("alice:sha256:abc", "line 2: invalid hash")]
    [InlineData("operator:sha256:0000000000000000000000000000000000000000000000000000000000000000", "line 2: invalid credential name 'operator'")]
    [InlineData("alice:md5:0000000000000000000000000000000000000000000000000000000000000000", "line 2: expected NAME:sha256:HEX[:EXPIRY]")]
    [InlineData("alice:sha256:0000000000000000000000000000000000000000000000000000000000000000:tomorrow", "line 2: invalid expiry 'tomorrow'")]
    [InlineData("bob:sha256:1111111111111111111111111111111111111111111111111111111111111111", "line 2: the hash repeats")]
    public void AMalformedLineIsRefusedNamingTheFileAndLine(string line, string expected)
    {
        var e = Assert.Throws<FormatException>(() => CredentialsFile.Parse(
            ["alice:sha256:1111111111111111111111111111111111111111111111111111111111111111", line], "creds"));
        Assert.StartsWith($"creds {expected}", e.Message);
    }

    [Fact]
    public void LinesParseWithCommentsAndAnExpiryHoldingColons()
    {
        var parsed = CredentialsFile.Parse(
        [
            "# team credentials",
            "",
            "team-vision:sha256:2222222222222222222222222222222222222222222222222222222222222222:2027-06-30T12:00:00Z",
            "alice@lab:sha256:3333333333333333333333333333333333333333333333333333333333333333:2027-01-01",
        ], "creds");
        Assert.Equal(new DateTimeOffset(2027, 6, 30, 12, 0, 0, TimeSpan.Zero), parsed[0].Expires);
        Assert.Equal(new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero), parsed[1].Expires);
        Assert.Equal(["team-vision", "alice@lab"], parsed.Select(c => c.Name));
    }

    [Fact]
    public void ACredentialsFileOthersCanWriteIsRefused()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupWrite);
            var e = Assert.Throws<IOException>(() => CredentialsFile.Read(file));
            Assert.Contains("writable by others", e.Message);
            Assert.Contains($"chmod go-w {file}", e.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task TheCoordinatorDoesNotStartWithABadCredentialsFile()
    {
        var directory = Directory.CreateTempSubdirectory("adan-badcreds-").FullName;
        try
        {
            var file = Path.Combine(directory, "credentials");
            TenantFixture.WriteCredentials(file, ["alice:sha256:xyz"]);
            var e = await Assert.ThrowsAsync<FormatException>(() => TestCoordinator.StartAsync(credentialsFile: file, dataDirectory: Path.Combine(directory, "data")));
            Assert.StartsWith($"{file} line 1: invalid hash", e.Message);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
