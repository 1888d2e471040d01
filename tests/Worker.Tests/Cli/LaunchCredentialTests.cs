using System.Runtime.Versioning;
using System.Text.Json;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// <c>adan launch --coordinator</c> with a submitter credential instead of the operator token (issue 28, items 1, 2 and
/// 7), against the built coordinator: the submitter's job runs and commits; another submitter's job cannot write in
/// that checkpoint root; a revoked credential is refused without restarting the coordinator.
/// </summary>
[UnsupportedOSPlatform("windows")]
public class LaunchCredentialTests
{
    [Fact]
    public async Task ASubmitterLaunchesWithItsCredentialAndNoOtherSubmitterWritesInItsRoot()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var runs = Directory.CreateDirectory(Path.Combine(temp.Path, "runs")).FullName;
        var data = Path.Combine(temp.Path, "data");
        var credentials = Path.Combine(temp.Path, "credentials");
        // The operator issues one credential per submitter; each gets only its secret file.
        var lines = new Dictionary<string, string>();
        foreach (var name in new[] { "alice", "bob" })
        {
            var issued = AdanCli.Run(["coordinator", "hash-credential", name, "--secret-file", Path.Combine(temp.Path, $"{name}.token")], TimeSpan.FromSeconds(60));
            Assert.True(issued.ExitCode == 0, issued.Describe());
            lines[name] = issued.Stdout.Trim();
            Assert.StartsWith($"{name}:sha256:", lines[name]);
        }
        WriteCredentials(credentials, lines.Values);
        using var coordinator = AdanCli.Start(["coordinator", "--listen", "127.0.0.1:0", "--data-dir", data, "--credentials-file", credentials,
            "--checkpoint-root", runs], new Dictionary<string, string> { ["ADAN_JOB_TOKEN"] = "the-operator-token-nobody-else-holds" }, defaultSignals: true);
        try
        {
            var listening = await coordinator.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            _ = coordinator.StandardError.ReadToEndAsync();
            var url = listening!["listening on ".Length..];
            var runDir = Path.Combine(runs, "run");
            string[] Launch(string who, params string[] extra) =>
                ["launch", "-n", "1", "--coordinator", url, "--token-file", Path.Combine(temp.Path, $"{who}.token"), "--",
                    .. AdanCli.TinyTrain, "--set", "checkpoint_every=4", "--set", $"run_dir={runDir}", .. extra];

            var alice = AdanCli.Run(Launch("alice"), TimeSpan.FromMinutes(2));
            Assert.True(alice.ExitCode == 0, alice.Describe());
            var checkpoints = Path.Combine(runDir, "checkpoints");
            var before = Manifests(checkpoints);
            Assert.NotEmpty(before);

            // Bob resumes from alice's checkpoints (reading is the file system's business) but may not write beside them.
            var bob = AdanCli.Run(Launch("bob", "--set", "resume=latest", "--set", "epochs=2", "--set", "allow_hparam_change=true"), TimeSpan.FromMinutes(2));
            Assert.True(bob.ExitCode == 1, bob.Describe());
            Assert.Contains($"could not save step 8: the coordinator refused to begin step 8: checkpoint root '{checkpoints}' belongs to credential 'alice'", bob.Stderr);
            Assert.Equal(before, Manifests(checkpoints));

            // The operator revokes alice: the file changes, SIGHUP (passed on by adan coordinator) reloads it, no restart.
            WriteCredentials(credentials, [lines["bob"]]);
            ProcessTable.Signal(coordinator.Id, "HUP");
            var audit = Path.Combine(data, "audit.jsonl");
            for (var i = 0; i < 100 && !File.ReadAllText(audit).Contains("\"trigger\":\"SIGHUP\""); i++)
            {
                await Task.Delay(50);
            }
            var revoked = AdanCli.Run(Launch("alice", "--set", "resume=latest"), TimeSpan.FromMinutes(1));
            Assert.True(revoked.ExitCode == 1, revoked.Describe());
            Assert.Contains("credential 'alice' was revoked", revoked.Stderr);
            Assert.False(coordinator.HasExited, "SIGHUP must reload the credentials, not end the coordinator");
            Assert.Equal(before, Manifests(checkpoints));

            var events = File.ReadAllLines(audit).Select(l => JsonDocument.Parse(l).RootElement)
                .Select(e => (Event: e.GetProperty("event").GetString(), Credential: e.GetProperty("credential").GetString())).ToList();
            Assert.Contains(("job.created", "alice"), events);
            Assert.Contains(("checkpoint.committed", "alice"), events);
            Assert.Contains(("access.denied", "bob"), events);
            Assert.Contains(("credential.refused", "alice"), events);
            Assert.Contains(("credentials.reloaded", "operator"), events);
        }
        finally
        {
            coordinator.Kill(entireProcessTree: true);
            await coordinator.WaitForExitAsync();
        }
    }

    private static void WriteCredentials(string file, IEnumerable<string> lines)
    {
        File.WriteAllLines(file + ".new", lines);
        File.SetUnixFileMode(file + ".new", UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(file + ".new", file, overwrite: true);
    }

    /// <summary>Each committed checkpoint's manifest text, by directory.</summary>
    private static Dictionary<string, string> Manifests(string root) =>
        Directory.EnumerateFiles(root, "manifest.json", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllText);
}
