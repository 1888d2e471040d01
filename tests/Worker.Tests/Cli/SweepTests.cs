using System.Buffers.Binary;
using System.Text.Json;

namespace Adan.Worker.Tests.Cli;

/// <summary>
/// <c>adan sweep</c> as a user runs it: a tiny MLP on 512 Fashion-MNIST samples, two batch sizes, adan and adamw, one
/// epoch; every output, the skipping of finished runs, a failing run, and usage errors.
/// </summary>
public class SweepTests
{
    private const string Tiny = """
        { "base": { "model": "mlp", "mlp_hidden": 32, "train_subset": 512, "test_subset": 200, "base_batch": 32 },
          "optimizers": { "adan": { "lr": 0.004 }, "adamw": { "lr": 0.002, "betas": [0.9, 0.999] } } }
        """;

    [Fact]
    public void ATinySweepWritesEveryOutputAndARerunSkipsTheFinishedRuns()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var config = Write(temp.Path, "sweep.json", Tiny);
        var output = Path.Combine(temp.Path, "out");
        string[] arguments = ["sweep", "--config", config, "--batch-sizes", "32,128", "--optimizers", "adan,adamw", "--epochs", "1",
            "--out", output, "--max-micro-batch", "64", "-n", "1"];

        var first = AdanCli.Run(arguments);
        Assert.True(first.ExitCode == 0, first.Describe());
        var rows = AssertOutputs(output, [(32, "adan"), (32, "adamw"), (128, "adan"), (128, "adamw")], batches: 2);
        Assert.All(rows, row => Assert.Equal("finished", row.GetProperty("status").GetString()));
        var steps = rows.Select(row => row.GetProperty("steps").GetInt64()).ToArray();
        Assert.Equal([16, 16, 4, 4], steps);
        // sqrt scaling from base_batch 32: batch 128 gets twice the base lr.
        Assert.Equal(0.008, rows[2].GetProperty("peak_lr").GetDouble(), 12);
        Assert.Equal(3, rows[2].GetProperty("warmup_steps").GetInt64());
        var report = File.ReadAllText(Path.Combine(output, "report.md"));
        Assert.Contains("| 32 |", report);
        Assert.Matches("adan's test accuracy (drops|rises) by", report);
        // The curves and the live progress come from each run's metrics.jsonl, never from the trainer's console lines.
        Assert.Contains(first.StdoutLines, line => System.Text.RegularExpressions.Regex.IsMatch(line, @"^\[1/4\] 32-adan: epoch 1 step \d+/16 loss "));
        foreach (var runDirectory in Directory.GetDirectories(Path.Combine(output, "runs")))
        {
            var recorded = File.ReadAllLines(Path.Combine(runDirectory, "metrics.jsonl")).Select(line => JsonDocument.Parse(line).RootElement)
                .Where(record => record.GetProperty("kind").GetString() == "step")
                .Select(record => (record.GetProperty("samples_seen").GetInt64(), record.GetProperty("loss").GetDouble())).ToArray();
            var curve = JsonDocument.Parse(File.ReadAllText(Path.Combine(runDirectory, "result.json"))).RootElement.GetProperty("curve").EnumerateArray()
                .Select(point => (point.GetProperty("samples").GetInt64(), point.GetProperty("loss").GetDouble())).ToArray();
            Assert.NotEmpty(curve);
            Assert.Equal(recorded, curve);
        }

        var results = Directory.GetFiles(Path.Combine(output, "runs"), "result.json", SearchOption.AllDirectories)
            .ToDictionary(path => path, File.ReadAllText);
        var second = AdanCli.Run(arguments);
        Assert.True(second.ExitCode == 0, second.Describe());
        Assert.Equal(4, second.StdoutLines.Count(line => line.EndsWith("skipped (finished earlier)", StringComparison.Ordinal)));
        Assert.DoesNotContain(second.StdoutLines, line => line.Contains(": started", StringComparison.Ordinal));
        Assert.All(results, pair => Assert.Equal(pair.Value, File.ReadAllText(pair.Key)));
    }

    [Fact]
    public void AFailingRunIsRecordedWithItsErrorAndTheOthersFinishOnTwoRanks()
    {
        using var temp = TestFiles.CreateTempDirectory();
        // Valid as a config, so the sweep plans it; the trainer fails at run time: there is no checkpoint to resume.
        var config = Write(temp.Path, "sweep.json", Tiny.Replace("\"lr\": 0.004", "\"lr\": 0.004, \"resume\": \"/nonexistent/checkpoint\"", StringComparison.Ordinal));
        var output = Path.Combine(temp.Path, "out");
        string[] arguments = ["sweep", "--config", config, "--batch-sizes", "64", "--optimizers", "adan,adamw", "--epochs", "1",
            "--out", output, "-n", "2"];

        var result = AdanCli.Run(arguments);
        Assert.True(result.ExitCode == 1, result.Describe());
        Assert.Matches("(?m)^adan sweep: 1 run\\(s\\) failed: 64-adan", result.Stderr);
        var rows = AssertOutputs(output, [(64, "adan"), (64, "adamw")], batches: 1);
        Assert.Equal("failed", rows[0].GetProperty("status").GetString());
        Assert.Contains("/nonexistent/checkpoint", rows[0].GetProperty("error").GetString());
        Assert.Equal("finished", rows[1].GetProperty("status").GetString());
        // 512 samples over 2 ranks in batches of 2 × 32.
        Assert.Equal(8, rows[1].GetProperty("steps").GetInt64());

        var again = AdanCli.Run(arguments);
        Assert.True(again.ExitCode == 1, again.Describe());
        Assert.Contains(again.StdoutLines, line => line.StartsWith("[1/2] 64-adan: started", StringComparison.Ordinal));
        Assert.Contains("[2/2] 64-adamw: skipped (finished earlier)", again.StdoutLines);
    }

    [Fact]
    public void SeedsAndATargetGiveMediansStepsToTargetAndVerdictsFromIntervals()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var config = Write(temp.Path, "sweep.json", Tiny);
        var output = Path.Combine(temp.Path, "out");
        string[] arguments = ["sweep", "--config", config, "--batch-sizes", "32,128", "--optimizers", "adan,adamw", "--epochs", "2",
            "--out", output, "--max-micro-batch", "64", "-n", "1", "--seeds", "2", "--val-split", "200", "--eval-every-samples", "128",
            "--target", "val_accuracy=0.4", "--stop-at-target"];

        var result = AdanCli.Run(arguments, TimeSpan.FromMinutes(4));
        Assert.True(result.ExitCode == 0, result.Describe());
        var rows = AssertOutputs(output, [(32, "adan"), (32, "adan"), (32, "adamw"), (32, "adamw"), (128, "adan"), (128, "adan"), (128, "adamw"), (128, "adamw")],
            batches: 2);
        Assert.Equal([42, 43, 42, 43, 42, 43, 42, 43], rows.Select(r => r.GetProperty("seed").GetInt32()));
        string[] names = ["128-adamw-seed0", "128-adamw-seed1", "128-adan-seed0", "128-adan-seed1", "32-adamw-seed0", "32-adamw-seed1", "32-adan-seed0", "32-adan-seed1"];
        Assert.Equal(names, Directory.GetDirectories(Path.Combine(output, "runs")).Select(d => Path.GetFileName(d)!).Order(StringComparer.Ordinal));
        foreach (var row in rows)
        {
            Assert.Equal("finished", row.GetProperty("status").GetString());
            Assert.InRange(row.GetProperty("val_accuracy").GetDouble(), 0, 1);
            var reached = row.GetProperty("target_reached").GetBoolean();
            var targetStep = row.GetProperty("target_step").GetDouble();
            // Reached: interpolated no later than where the run stopped; censored: the last evaluation, the run's end.
            Assert.True(reached ? targetStep <= row.GetProperty("steps").GetInt64() : targetStep == row.GetProperty("steps").GetInt64(), row.ToString());
        }
        // The two seeds of a cell differ (initialisation and data order).
        Assert.NotEqual(rows[0].GetProperty("final_train_loss").GetDouble(), rows[1].GetProperty("final_train_loss").GetDouble());
        var report = File.ReadAllText(Path.Combine(output, "report.md"));
        Assert.Contains("median over 2 seeds", report);
        Assert.Contains("## Steps to val_accuracy=0.4", report);
        // The batch, its B / B_noise when the runs measured a noise scale, then the median [min, max] of each optimizer.
        Assert.Matches(@"\| 32 \|( [0-9.E+-]+ \|)? \d+\.\d\d \[\d+\.\d\d, \d+\.\d\d\] \|", report);
        Assert.Matches("adan vs adamw: no difference|adan is better than adamw|adamw is better than adan", report);
        Assert.Contains("95 % interval of adan − adamw", report);
        // The critical-batch section and its plot (issue 26 item 6); with one rank only the accumulating batch measures B_simple.
        Assert.Contains("## Critical batch size from steps to val_accuracy=0.4", report);
        Assert.Contains("| optimizer | reaching runs | censored | S_min [95 %] | B_crit [95 %] | B_crit / B_noise |", report);
        Assert.True(new FileInfo(Path.Combine(output, "steps_to_target.png")).Length > 0);
        Assert.All(rows.Where(r => r.GetProperty("batch").GetInt32() == 128), r => Assert.True(r.GetProperty("noise_scale").ValueKind is JsonValueKind.Number or JsonValueKind.Null, r.ToString()));
    }

    [Fact]
    public void ParallelTwoRunsTwoLaunchesAtOnceWithTheBitsOfASequentialSweepOnCoresOrHostsAndARerunSkipsThem()
    {
        using var temp = TestFiles.CreateTempDirectory();
        // The sweep file fixes threads, so that each run computes with the same threads at every --parallel (results
        // are bitwise the same only for the same threads, as for any two adan train runs).
        var config = Write(temp.Path, "sweep.json", Tiny.Replace("\"base_batch\": 32", "\"base_batch\": 32, \"threads\": 1", StringComparison.Ordinal));
        string[] Arguments(string output, params string[] more) =>
            ["sweep", "--config", config, "--batch-sizes", "64", "--optimizers", "adan,adamw", "--epochs", "1", "--out", output, .. more];
        var sequential = Path.Combine(temp.Path, "sequential");
        var parallel = Path.Combine(temp.Path, "parallel");

        var one = AdanCli.Run(Arguments(sequential));
        Assert.True(one.ExitCode == 0, one.Describe());
        var two = AdanCli.Run(Arguments(parallel, "--parallel", "2"));
        Assert.True(two.ExitCode == 0, two.Describe());

        var rows = AssertOutputs(parallel, [(64, "adan"), (64, "adamw")], batches: 1);
        Assert.Equal(AssertOutputs(sequential, [(64, "adan"), (64, "adamw")], batches: 1).Select(Metrics), rows.Select(Metrics));
        Assert.Equal(Curves(sequential), Curves(parallel));
        Assert.Contains(two.StdoutLines, line => line.StartsWith("[1/2] 64-adan: started: ", StringComparison.Ordinal) && line.Contains(" on slice 1/2", StringComparison.Ordinal));
        Assert.Contains(two.StdoutLines, line => line.StartsWith("[2/2] 64-adamw: started: ", StringComparison.Ordinal) && line.Contains(" on slice 2/2", StringComparison.Ordinal));
        // Side by side: each run started before the other ended, as each run's result.json records.
        var (adan, adamw) = (Span(parallel, "64-adan"), Span(parallel, "64-adamw"));
        Assert.True(adan.Start < adamw.End && adamw.Start < adan.End, $"64-adan ran {adan}, 64-adamw ran {adamw}");

        // The same on two one-slot slices of a hostfile (this machine twice: MPICH starts local hosts without ssh).
        var hosts = Path.Combine(temp.Path, "hosts");
        var hostfile = Write(temp.Path, "hosts.txt", "localhost:1\n# the second slice\nlocalhost:1\n");
        var sliced = AdanCli.Run(Arguments(hosts, "--parallel", "2", "--hostfile", hostfile));
        Assert.True(sliced.ExitCode == 0, sliced.Describe());
        Assert.Equal(rows.Select(Metrics), AssertOutputs(hosts, [(64, "adan"), (64, "adamw")], batches: 1).Select(Metrics));
        Assert.Equal(["localhost:1"], File.ReadAllLines(Path.Combine(hosts, "hostfiles", "slice-2")));
        Assert.Contains(sliced.StdoutLines, line => line.StartsWith("[2/2] 64-adamw: started: ", StringComparison.Ordinal) && line.EndsWith(" on slice 2/2: hostfile slice-2, threads 1", StringComparison.Ordinal));

        var results = Directory.GetFiles(Path.Combine(parallel, "runs"), "result.json", SearchOption.AllDirectories).ToDictionary(path => path, File.ReadAllText);
        foreach (var again in new[] { Arguments(parallel, "--parallel", "2"), Arguments(parallel) })
        {
            var rerun = AdanCli.Run(again);
            Assert.True(rerun.ExitCode == 0, rerun.Describe());
            Assert.Equal(["[1/2] 64-adan: skipped (finished earlier)", "[2/2] 64-adamw: skipped (finished earlier)"],
                rerun.StdoutLines.Where(line => line.StartsWith('[')));
            Assert.All(results, pair => Assert.Equal(pair.Value, File.ReadAllText(pair.Key)));
        }
    }

    [Fact]
    public async Task ASignalEndsEveryLaunchOfAParallelSweepAndRecordsEachInterrupted()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var config = Write(temp.Path, "sweep.json", Tiny.Replace("\"train_subset\": 512", "\"train_subset\": 4096", StringComparison.Ordinal));
        var output = Path.Combine(temp.Path, "out");
        using var sweep = AdanCli.Start(["sweep", "--config", config, "--batch-sizes", "32", "--optimizers", "adan,adamw", "--epochs", "50",
            "--out", output, "--parallel", "2"]);
        var stderr = sweep.StandardError.ReadToEndAsync();
        var stepping = new HashSet<string>();
        var seen = new List<string>();
        while (stepping.Count < 2 && sweep.StandardOutput.ReadLine() is { } line)
        {
            seen.Add(line);
            if (System.Text.RegularExpressions.Regex.Match(line, @"^\[\d/2\] (\S+): epoch 1 step ") is { Success: true } match)
            {
                stepping.Add(match.Groups[1].Value);
            }
        }
        // Failed once in a clean-clone suite run with only "Expected 2, Actual 1" to read: say what the sweep printed.
        Assert.True(stepping.Count == 2,
            $"the sweep's output ended before both runs stepped (exit code {(sweep.HasExited ? sweep.ExitCode : -1)}):\n{string.Join('\n', seen)}\n{(sweep.HasExited ? await stderr : "")}");
        var launches = ProcessTable.Descendants(sweep.Id);
        Assert.Equal(2, launches.Count(pid => ProcessTable.Arguments(pid) is [_, "launch", ..]));
        var rest = sweep.StandardOutput.ReadToEndAsync();

        ProcessTable.Signal(sweep.Id, "TERM");
        using (var limit = new CancellationTokenSource(TimeSpan.FromMinutes(1)))
        {
            await sweep.WaitForExitAsync(limit.Token);
        }

        Assert.True(sweep.ExitCode == 143, $"exit code {sweep.ExitCode}\n{await rest}\n{await stderr}");
        Assert.Contains("adan sweep: stopped by SIGTERM", await stderr);
        var rows = AssertOutputs(output, [(32, "adan"), (32, "adamw")], batches: 1);
        Assert.All(rows, row => Assert.Equal("interrupted", row.GetProperty("status").GetString()));
        // The sweep waited for each launcher; the proxies under them may take a moment more to reap their ranks.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (launches.Any(ProcessTable.IsRunning) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        Assert.Empty(launches.Where(ProcessTable.IsRunning).Select(pid => $"{pid}: {string.Join(' ', ProcessTable.Arguments(pid))}"));
    }

    [Theory]
    [InlineData("--seeds 0", "--seeds 0")]
    [InlineData("--target val_accuracy=0.9", "--target needs --val-split")]
    [InlineData("--target accuracy=0.9", "unknown metric 'accuracy'")]
    [InlineData("--val-split 100 --target val_accuracy=0.9", "--target needs --eval-every-samples")]
    [InlineData("--stop-at-target true", "--stop-at-target needs --target")]
    [InlineData("--finalists 1", "--finalists needs --lr-grid")]
    [InlineData("--batch-sizes ,", "--batch-sizes")]
    [InlineData("--optimizers adan,rmsprop", "rmsprop")]
    [InlineData("--batch-sizes 33 -n 2", "--batch-sizes 33: not reachable with -n 2")]
    [InlineData("--lr-scaling cubic", "cubic")]
    [InlineData("--lr-grid , --val-split 100", "--lr-grid ',': give at least one multiplier")]
    [InlineData("--lr-grid 0.5,0 --val-split 100", "--lr-grid 0: not a positive number")]
    [InlineData("--lr-grid 0.5,1 --val-split 100 --finalists 0", "--finalists 0: must be between 1 and the 2 point(s)")]
    [InlineData("--lr-grid 0.5,1 --val-split 100 --finalists 3", "--finalists 3: must be between 1 and the 2 point(s)")]
    [InlineData("--lr-grid 0.5,1", "--lr-grid needs --val-split")]
    [InlineData("--parallel 0", "--parallel 0: must be ≥ 1")]
    [InlineData("--parallel 4096", "--parallel 4096: this machine has")]
    [InlineData("--parallel 3 -n 2 --hostfile HOSTFILE", "--parallel 3: the 2 host(s) of ")]
    public void ABadFlagIsOneLineAndExitCodeTwo(string change, string named)
    {
        using var temp = TestFiles.CreateTempDirectory();
        var config = Write(temp.Path, "sweep.json", Tiny);
        var hostfile = Write(temp.Path, "hosts.txt", "node-a:2\nnode-b:2 # two launches of -n 2 at most\n");
        var flags = new Dictionary<string, string>
        {
            ["--config"] = config, ["--batch-sizes"] = "32", ["--optimizers"] = "adan", ["--epochs"] = "1", ["--out"] = Path.Combine(temp.Path, "out"),
        };
        var changes = change.Split(' ');
        for (var i = 0; i < changes.Length; i += 2)
        {
            flags[changes[i]] = changes[i + 1].Replace("HOSTFILE", hostfile, StringComparison.Ordinal);
        }
        var result = AdanCli.Run(["sweep", .. flags.SelectMany(pair => new[] { pair.Key, pair.Value })], TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 2, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("adan sweep: ", line);
        Assert.Contains(named, line);
        Assert.False(Directory.Exists(Path.Combine(temp.Path, "out")), "nothing may run after a usage error");
    }

    [Fact]
    public void AnUnknownWarmupRuleIsOneLineAndExitCodeTwo()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var config = Write(temp.Path, "sweep.json", Tiny.Replace("\"lr\": 0.004", "\"lr\": 0.004, \"warmup\": { \"rule\": \"cosine\" }", StringComparison.Ordinal));
        var result = AdanCli.Run(["sweep", "--config", config, "--batch-sizes", "32", "--optimizers", "adan", "--epochs", "1", "--out", Path.Combine(temp.Path, "out")],
            TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 2, result.Describe());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("adan sweep: Invalid warmup.rule 'cosine' in ", line);
        Assert.EndsWith("optimizers.adan: valid rules are epochs | steps | legw.", line);
    }

    [Fact]
    public void ALearningRateGridRunsEveryPointThenTheFinalistsSeedsAndReportsTheChosenRates()
    {
        using var temp = TestFiles.CreateTempDirectory();
        var config = Write(temp.Path, "sweep.json", Tiny);
        var output = Path.Combine(temp.Path, "out");
        string[] arguments = ["sweep", "--config", config, "--batch-sizes", "32,128", "--optimizers", "adan,adamw", "--epochs", "1",
            "--out", output, "--max-micro-batch", "64", "-n", "1", "--seeds", "2", "--val-split", "128", "--lr-grid", "0.5,2", "--finalists", "1"];

        var first = AdanCli.Run(arguments, TimeSpan.FromMinutes(5));
        Assert.True(first.ExitCode == 0, first.Describe());
        var rows = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "results.json"))).RootElement.EnumerateArray().Select(r => r.Clone()).ToArray();
        // Stage 1: 2 points × 4 cells with seed 0; stage 2: the finalist's seed 1 in each cell.
        AssertOutputs(output, [.. new[] { (32, "adan"), (32, "adamw"), (128, "adan"), (128, "adamw") }.SelectMany(cell => Enumerable.Repeat(cell, 3))], batches: 2);
        Assert.All(rows, row => Assert.Equal("finished", row.GetProperty("status").GetString()));
        var names = new List<string>();
        var report = File.ReadAllText(Path.Combine(output, "report.md"));
        foreach (var cell in rows.GroupBy(r => (Batch: r.GetProperty("batch").GetInt32(), Optimizer: r.GetProperty("optimizer").GetString()!)))
        {
            var chosen = cell.Where(r => r.GetProperty("chosen").GetBoolean()).ToList();
            Assert.Equal([42, 43], chosen.Select(r => r.GetProperty("seed").GetInt32()));
            var multiplier = Assert.Single(chosen.Select(r => r.GetProperty("lr_multiplier").GetDouble()).Distinct());
            var m = multiplier.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            names.AddRange([$"{cell.Key.Batch}-{cell.Key.Optimizer}-lr0.5-seed0", $"{cell.Key.Batch}-{cell.Key.Optimizer}-lr2-seed0", $"{cell.Key.Batch}-{cell.Key.Optimizer}-lr{m}-seed1"]);
            // The peak is the sqrt-scaled lr (from base_batch 32) times the multiplier.
            var baseLr = cell.Key.Optimizer == "adan" ? 0.004 : 0.002;
            foreach (var row in cell)
            {
                Assert.Equal(baseLr * Math.Sqrt(cell.Key.Batch / 32.0) * row.GetProperty("lr_multiplier").GetDouble(), row.GetProperty("peak_lr").GetDouble(), 12);
            }
            var peak = chosen[0].GetProperty("peak_lr").GetDouble().ToString("G4", System.Globalization.CultureInfo.InvariantCulture);
            Assert.Matches($@"(?m)^\| {cell.Key.Batch} \|.*×{System.Text.RegularExpressions.Regex.Escape(m)} \({System.Text.RegularExpressions.Regex.Escape(peak)}\)", report);
        }
        Assert.Equal(names.Order(StringComparer.Ordinal), Directory.GetDirectories(Path.Combine(output, "runs")).Select(d => Path.GetFileName(d)!).Order(StringComparer.Ordinal));
        Assert.Contains("## Chosen learning rate per (batch, optimizer)", report);
        Assert.Matches(@"- adan: α = -?\d+\.\d\d, nearer", report);
        Assert.Contains("## Effective hyper-parameters", report);
        Assert.Matches(@"\| adamw \| 128 \| [\d.E+-]+ \| sqrt \| \d+ \| cosine \| 0 \| betas \[0\.9,0\.999\], eps [^,]+, weight_decay 0\.01", report);
        Assert.Contains("median over 2 seeds", report);

        var table = File.ReadAllText(Path.Combine(output, "results.json"));
        var second = AdanCli.Run(arguments, TimeSpan.FromMinutes(2));
        Assert.True(second.ExitCode == 0, second.Describe());
        Assert.Equal(12, second.StdoutLines.Count(line => line.EndsWith("skipped (finished earlier)", StringComparison.Ordinal)));
        Assert.DoesNotContain(second.StdoutLines, line => line.Contains(": started", StringComparison.Ordinal));
        // The rerun recomputes the same finalists and choice from stage 1's results.
        Assert.Equal(table, File.ReadAllText(Path.Combine(output, "results.json")));
    }

    /// <summary>Checks results.json, results.csv, report.md and both PNGs; returns the JSON rows.</summary>
    private static JsonElement[] AssertOutputs(string output, (int Batch, string Optimizer)[] runs, int batches)
    {
        var rows = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "results.json"))).RootElement.EnumerateArray().Select(r => r.Clone()).ToArray();
        Assert.Equal(runs, rows.Select(r => (r.GetProperty("batch").GetInt32(), r.GetProperty("optimizer").GetString()!)).ToArray());
        var csv = File.ReadAllLines(Path.Combine(output, "results.csv"));
        Assert.Equal("batch,optimizer,seed,steps,epochs,lr_multiplier,peak_lr,warmup_steps,final_train_loss,test_accuracy,test_loss,val_accuracy,val_loss,"
            + "target_reached,target_step,target_samples,b_noise,wall_seconds,samples_per_second,status,chosen,error", csv[0]);
        Assert.Equal(runs.Length + 1, csv.Length);
        for (var i = 0; i < runs.Length; i++)
        {
            Assert.StartsWith($"{runs[i].Batch},{runs[i].Optimizer},{rows[i].GetProperty("seed").GetInt32()},{rows[i].GetProperty("steps").GetInt64()},", csv[i + 1]);
            Assert.Contains($",{rows[i].GetProperty("status").GetString()},{(rows[i].GetProperty("chosen").GetBoolean() ? "true" : "false")},", csv[i + 1]);
        }
        Assert.True(File.Exists(Path.Combine(output, "report.md")));
        Assert.Equal((800, 500), PngSize(Path.Combine(output, "accuracy_vs_batch.png")));
        Assert.Equal((500 * Math.Min(batches, 2), 360 * ((batches + 1) / 2)), PngSize(Path.Combine(output, "loss_curves.png")));
        return rows;
    }

    /// <summary>A row's numbers that must not depend on scheduling: all but the run's wall time and throughput, as JSON text (bitwise).</summary>
    private static string Metrics(JsonElement row) =>
        string.Join(", ", row.EnumerateObject().Where(p => p.Name is not ("wall_seconds" or "samples_per_second")).Select(p => $"{p.Name}={p.Value.GetRawText()}"));

    /// <summary>Each run's loss curve from its result.json, as JSON text (bitwise), by run name.</summary>
    private static Dictionary<string, string> Curves(string output) =>
        Directory.GetDirectories(Path.Combine(output, "runs")).ToDictionary(d => Path.GetFileName(d)!,
            d => JsonDocument.Parse(File.ReadAllText(Path.Combine(d, "result.json"))).RootElement.GetProperty("curve").GetRawText());

    /// <summary>When a run's launch started and ended, from its result.json.</summary>
    private static (DateTimeOffset Start, DateTimeOffset End) Span(string output, string run)
    {
        var result = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "runs", run, "result.json"))).RootElement;
        return (result.GetProperty("started_at").GetDateTimeOffset(), result.GetProperty("ended_at").GetDateTimeOffset());
    }

    /// <summary>Width and height from the PNG's IHDR chunk, after checking the signature.</summary>
    private static (int Width, int Height) PngSize(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        return (BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
    }

    private static string Write(string directory, string name, string text)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, text);
        return path;
    }
}
