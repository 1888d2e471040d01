using System.Text.Json;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// <c>adan sweep --slurm</c> against a stand-in Slurm client (<c>sbatch</c>, <c>squeue</c>, <c>scancel</c> on PATH) that
/// queues an array's tasks and runs them one after another with the variables Slurm sets: one array per stage, each
/// task's result collected from its run directory, a rerun that submits nothing, a task that vanishes from the queue
/// failed with its name, and the flags' usage errors. <c>make cluster-check</c> runs the same against a real Slurm.
/// </summary>
public class SweepSlurmTests
{
    private const string Tiny = """
        { "base": { "model": "mlp", "mlp_hidden": 32, "train_subset": 512, "test_subset": 200, "base_batch": 32, "threads": 1 },
          "optimizers": { "adan": { "lr": 0.004 }, "adamw": { "lr": 0.002, "betas": [0.9, 0.999] } } }
        """;

    /// <summary>sbatch: records its arguments, queues the array's tasks as files and runs them in the background, in order.</summary>
    private const string Sbatch = """
        #!/usr/bin/env bash
        state=${FAKE_SLURM_DIR:?}
        printf '%s\n' "$@" >> "$state/sbatch-calls"
        echo --- >> "$state/sbatch-calls"
        ntasks=1
        while [[ $# -gt 0 ]]; do
            case $1 in
                --array=*) array=${1#--array=}; shift ;;
                --ntasks=*) ntasks=${1#--ntasks=}; shift ;;
                -*) shift ;;
                *) script=$1; shift; break ;;
            esac
        done
        job=$((100 + $(ls "$state/jobs" | wc -l)))
        range=${array%%%*}
        last=${range#0-}
        mkdir -p "$state/jobs/$job"
        for ((k = 0; k <= last; k++)); do echo PENDING > "$state/jobs/$job/$k"; done
        (
            for ((k = 0; k <= last; k++)); do
                echo RUNNING > "$state/jobs/$job/$k"
                if [[ -z ${FAKE_SLURM_LOSE:-} ]]; then
                    SLURM_ARRAY_TASK_ID=$k SLURM_JOB_ID=$job SLURM_NTASKS=$ntasks bash "$script" "$@"
                fi
                rm -f "$state/jobs/$job/$k"
            done
        ) < /dev/null > /dev/null 2>&1 &
        echo "$job"
        """;

    /// <summary>squeue -h -r -o "%F %K %T" -j JOB: the tasks still queued.</summary>
    private const string Squeue = """
        #!/usr/bin/env bash
        state=${FAKE_SLURM_DIR:?}
        job=${@: -1}
        [[ -d $state/jobs/$job ]] || { echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1; }
        for f in "$state/jobs/$job"/*; do
            [[ -e $f ]] && echo "$job ${f##*/} $(cat "$f" 2>/dev/null)"
        done
        exit 0
        """;

    private const string Scancel = """
        #!/usr/bin/env bash
        echo "$@" >> "${FAKE_SLURM_DIR:?}/scancel-calls"
        """;

    /// <summary>The batch script a task starts its run with, as deploy/slurm.sbatch does on one node: CONFIG then train arguments.</summary>
    private const string BatchScript = """
        #!/usr/bin/env bash
        config=$1
        shift
        exec "$ADAN" launch -n "$SLURM_NTASKS" -- train --config "$config" "$@"
        """;

    [Fact]
    public void ASweepOnSlurmIsOneArrayWhoseTasksResultsAreCollectedAndARerunSubmitsNothing()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var (arguments, environment, state) = Setup(temp.Path);
        var output = arguments[arguments.IndexOf("--out") + 1];

        var first = AdanCli.Run([.. arguments, "--parallel", "2", "--sbatch-arg=--time=00:10:00"], TimeSpan.FromMinutes(3), environment);
        Assert.True(first.ExitCode == 0, first.Describe());
        Assert.Single(first.Stderr.Split('\n'), line => line.StartsWith("adan sweep: submitted 2 run(s) as Slurm job array 100", StringComparison.Ordinal));
        var call = File.ReadAllLines(Path.Combine(state, "sbatch-calls"));
        Assert.Equal("--parsable", call[0]);
        Assert.Contains("--array=0-1%2", call);
        Assert.Contains("--ntasks=1", call);
        Assert.Contains("--time=00:10:00", call);
        Assert.Equal(Path.Combine(output, "slurm", "sweep-task.sbatch"), call[Array.FindIndex(call, a => a.EndsWith(".sbatch", StringComparison.Ordinal))]);
        Assert.Equal([Path.Combine(output, "runs", "64-adan"), Path.Combine(output, "runs", "64-adamw"), "---"], call[^3..]);
        var rows = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "results.json"))).RootElement.EnumerateArray().ToArray();
        Assert.Equal(["adan", "adamw"], rows.Select(r => r.GetProperty("optimizer").GetString()));
        foreach (var row in rows)
        {
            Assert.Equal("finished", row.GetProperty("status").GetString());
            Assert.Equal(8, row.GetProperty("steps").GetInt64());
            var directory = Path.Combine(output, "runs", $"64-{row.GetProperty("optimizer").GetString()}");
            Assert.Equal("0", File.ReadAllText(Path.Combine(directory, "slurm-exit")).Trim());
            // The curve is read from the task's metrics.jsonl, as for a run launched here.
            var steps = File.ReadAllLines(Path.Combine(directory, "metrics.jsonl")).Count(line => line.Contains("\"kind\":\"step\"", StringComparison.Ordinal));
            var result = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "result.json"))).RootElement;
            Assert.Equal(steps, result.GetProperty("curve").GetArrayLength());
            Assert.Contains("epochs", File.ReadAllText(Path.Combine(directory, "output.log")), StringComparison.Ordinal);
        }

        var again = AdanCli.Run([.. arguments], TimeSpan.FromMinutes(2), environment);
        Assert.True(again.ExitCode == 0, again.Describe());
        Assert.Equal(2, again.StdoutLines.Count(line => line.EndsWith("skipped (finished earlier)", StringComparison.Ordinal)));
        Assert.DoesNotContain("submitted", again.Stderr, StringComparison.Ordinal);
        Assert.Single(File.ReadAllLines(Path.Combine(state, "sbatch-calls")), line => line == "---");
    }

    [Fact]
    public void ATaskThatLeavesTheQueueWithoutAnExitCodeFailsNamingItAndARerunSubmitsItAgain()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var (arguments, environment, _) = Setup(temp.Path, "adan");
        var output = arguments[arguments.IndexOf("--out") + 1];
        var lose = new Dictionary<string, string>(environment) { ["FAKE_SLURM_LOSE"] = "1" };

        var lost = AdanCli.Run(arguments, TimeSpan.FromMinutes(2), lose);
        Assert.True(lost.ExitCode == 1, lost.Describe());
        var row = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "results.json"))).RootElement[0];
        Assert.Equal("failed", row.GetProperty("status").GetString());
        Assert.StartsWith("Slurm task 100_0 left the queue without an exit code", row.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Contains(Path.Combine(output, "slurm", "100_0.out"), row.GetProperty("error").GetString(), StringComparison.Ordinal);

        var rerun = AdanCli.Run(arguments, TimeSpan.FromMinutes(2), environment);
        Assert.True(rerun.ExitCode == 0, rerun.Describe());
        Assert.Contains("submitted 1 run(s) as Slurm job array 101", rerun.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--sbatch-arg=--time=1", "--sbatch-arg needs --slurm")]
    [InlineData("--slurm-script /nonexistent/x.sbatch", "--slurm-script needs --slurm")]
    [InlineData("--slurm --hostfile HOSTFILE", "--slurm takes each run's hosts from its task's allocation: drop --hostfile")]
    [InlineData("--slurm --slurm-script /nonexistent/x.sbatch", "--slurm-script /nonexistent/x.sbatch: no such file")]
    [InlineData("--slurm --parallel 0", "--parallel 0: must be ≥ 1")]
    public void ABadSlurmFlagIsOneLineAndExitCodeTwo(string change, string named)
    {
        using var temp = TestFiles.CreateTempDirectory();
        var (arguments, environment, _) = Setup(temp.Path);
        arguments.RemoveRange(arguments.IndexOf("--slurm"), 3);
        var hostfile = Path.Combine(temp.Path, "hosts");
        File.WriteAllText(hostfile, "localhost:2\n");
        var result = AdanCli.Run([.. arguments, .. change.Replace("HOSTFILE", hostfile, StringComparison.Ordinal).Split(' ')], TimeSpan.FromMinutes(1), environment);
        Assert.True(result.ExitCode == 2, result.Describe());
        Assert.Contains(named, result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void SlurmWithoutSbatchOnPathIsOneLineThatSaysWhereToRun()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var (arguments, _, _) = Setup(temp.Path);
        var result = AdanCli.Run(arguments, TimeSpan.FromMinutes(1), new Dictionary<string, string> { ["PATH"] = Path.Combine(temp.Path, "no-slurm-here") });
        Assert.True(result.ExitCode == 2, result.Describe());
        Assert.Contains("--slurm: sbatch is not on PATH", result.Stderr, StringComparison.Ordinal);
    }

    /// <summary>A sweep file, the stand-in Slurm client on PATH, and a one-batch sweep's arguments with <c>--slurm</c>.</summary>
    private static (List<string> Arguments, Dictionary<string, string> Environment, string State) Setup(string root, string optimizers = "adan,adamw")
    {
        var bin = Directory.CreateDirectory(Path.Combine(root, "fake-slurm")).FullName;
        var state = Directory.CreateDirectory(Path.Combine(root, "slurm-state")).FullName;
        Directory.CreateDirectory(Path.Combine(state, "jobs"));
        foreach (var (name, text) in new[] { ("sbatch", Sbatch), ("squeue", Squeue), ("scancel", Scancel), ("batch.sh", BatchScript) })
        {
            var path = Path.Combine(bin, name);
            File.WriteAllText(path, text.ReplaceLineEndings("\n") + "\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }
        var config = Path.Combine(root, "sweep.json");
        File.WriteAllText(config, Tiny);
        var environment = new Dictionary<string, string>
        {
            ["PATH"] = $"{bin}:{Environment.GetEnvironmentVariable("PATH")}",
            ["FAKE_SLURM_DIR"] = state,
        };
        List<string> arguments = ["sweep", "--config", config, "--batch-sizes", "64", "--optimizers", optimizers, "--epochs", "1", "-n", "1",
            "--out", Path.Combine(root, "out"), "--slurm", "--slurm-script", Path.Combine(bin, "batch.sh")];
        return (arguments, environment, state);
    }
}
