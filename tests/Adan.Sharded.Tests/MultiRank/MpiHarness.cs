using System.Diagnostics;
using System.Text;

namespace Adan.Sharded.Tests.MultiRank;

/// <summary>What every rank of one multi-rank run printed, and how the run ended.</summary>
internal sealed record MultiRankResult(int ExitCode, bool TimedOut, string[] Stdout, string[] Stderr, string LauncherOutput)
{
    /// <summary>A readable account of every rank's output, for assertion messages.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.AppendLine($"exit code {ExitCode}{(TimedOut ? " (timed out)" : string.Empty)}");
        for (var r = 0; r < Stdout.Length; r++)
        {
            text.AppendLine($"--- rank {r} stdout ---").AppendLine(Stdout[r]);
            text.AppendLine($"--- rank {r} stderr ---").AppendLine(Stderr[r]);
        }
        return text.AppendLine("--- mpiexec ---").AppendLine(LauncherOutput).ToString();
    }
}

/// <summary>
/// Runs <c>mpiexec.mpich -n W Adan.MultiRank SCENARIO ARGS</c> with a timeout and collects each
/// rank's stdout and stderr separately.
/// </summary>
internal static class MpiHarness
{
    public static string EntryPoint => Path.Combine(AppContext.BaseDirectory, "Adan.MultiRank");

    public static MultiRankResult Run(int ranks, string scenario, IEnumerable<string>? args = null,
        TimeSpan? timeout = null, IDictionary<string, string>? environment = null)
    {
        var dir = Directory.CreateTempSubdirectory("adan-mpi-");
        try
        {
            var psi = new ProcessStartInfo("mpiexec.mpich")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var a in new[] { "-n", ranks.ToString(), "-outfile-pattern", Path.Combine(dir.FullName, "out.%r"),
                         "-errfile-pattern", Path.Combine(dir.FullName, "err.%r"), EntryPoint, scenario })
            {
                psi.ArgumentList.Add(a);
            }
            foreach (var a in args ?? [])
            {
                psi.ArgumentList.Add(a);
            }
            psi.Environment["DOTNET_gcServer"] = "0";
            foreach (var (k, v) in environment ?? new Dictionary<string, string>())
            {
                psi.Environment[k] = v;
            }
            using var process = Process.Start(psi)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            var timedOut = !process.WaitForExit(timeout ?? TimeSpan.FromMinutes(3));
            if (timedOut)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }
            var outs = Enumerable.Range(0, ranks).Select(r => ReadOrEmpty(Path.Combine(dir.FullName, $"out.{r}"))).ToArray();
            var errs = Enumerable.Range(0, ranks).Select(r => ReadOrEmpty(Path.Combine(dir.FullName, $"err.{r}"))).ToArray();
            return new MultiRankResult(timedOut ? -1 : process.ExitCode, timedOut, outs, errs, stdout.Result + stderr.Result);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Runs and asserts that every rank exited 0; returns the result.</summary>
    public static MultiRankResult RunOk(int ranks, string scenario, params string[] args)
    {
        var result = Run(ranks, scenario, args);
        Assert.True(result.ExitCode == 0, $"{scenario} on {ranks} ranks failed:\n{result.Describe()}");
        return result;
    }

    private static string ReadOrEmpty(string path) => File.Exists(path) ? File.ReadAllText(path) : string.Empty;
}
