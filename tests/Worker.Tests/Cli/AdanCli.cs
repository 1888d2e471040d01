using System.Diagnostics;

namespace Adan.Worker.Tests.Cli;

/// <summary>What one run of the <c>adan</c> executable printed and returned.</summary>
internal sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public string[] StdoutLines => Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();

    public string Describe() => $"exit code {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs the built <c>adan</c> executable as a user would, with a timeout.</summary>
internal static class AdanCli
{
    /// <summary>The smallest real training run: one epoch of a small MLP on 256 samples, no resume.</summary>
    public static readonly string[] TinyTrain =
    [
        "train", "--set", "model=mlp", "--set", "mlp_hidden=32", "--set", "train_subset=256", "--set", "test_subset=100",
        "--set", "epochs=1", "--set", "resume=none",
    ];

    /// <summary>The Worker's own build output, in the configuration this test was built in.</summary>
    public static string Executable
    {
        get
        {
            var testDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var framework = testDir.Name;
            var configuration = testDir.Parent!.Name;
            var root = testDir;
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "Adan.sln")))
            {
                root = root.Parent;
            }
            Assert.NotNull(root);
            var path = Path.Combine(root.FullName, "src", "Worker", "bin", configuration, framework, "adan");
            Assert.True(File.Exists(path), $"build the Worker first: {path} does not exist");
            return path;
        }
    }

    /// <summary>
    /// Starts adan with the arguments (stdout and stderr redirected). With <paramref name="defaultSignals"/> it starts
    /// with every signal's default handling (through <c>env --default-signal</c>, which then runs adan in its own
    /// process): a suite run under <c>nohup</c> would otherwise pass on an ignored SIGHUP, which adan keeps ignoring, as
    /// it should for a user who ran it under <c>nohup</c>.
    /// </summary>
    public static Process Start(IEnumerable<string> arguments, IDictionary<string, string>? environment = null, bool defaultSignals = false)
    {
        var info = new ProcessStartInfo(defaultSignals ? "env" : Executable)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        if (defaultSignals)
        {
            info.ArgumentList.Add("--default-signal");
            info.ArgumentList.Add(Executable);
        }
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }
        // A suite run inside a Slurm allocation or under an MPI launcher must not make every adan it starts a task of
        // that job (adan launch would take the allocation's hosts, adan train would expect its ranks).
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("SLURM_", StringComparison.Ordinal) || k.StartsWith("PMI_", StringComparison.Ordinal)
            || k.StartsWith("PMIX_", StringComparison.Ordinal) || k.StartsWith("OMPI_", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(name);
        }
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }
        return Process.Start(info)!;
    }

    /// <summary>Runs adan to completion (killed after <paramref name="timeout"/>).</summary>
    public static CliResult Run(IEnumerable<string> arguments, TimeSpan? timeout = null, IDictionary<string, string>? environment = null)
    {
        using var process = Start(arguments, environment);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return new CliResult(-1, stdout.Result, stderr.Result + "\n(timed out)");
        }
        return new CliResult(process.ExitCode, stdout.Result, stderr.Result);
    }
}
