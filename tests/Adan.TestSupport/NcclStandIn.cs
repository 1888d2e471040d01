using System.Diagnostics;

namespace Adan.TestSupport;

/// <summary>
/// The host-memory stand-in for NCCL (tests/NcclStandIn/nccl_standin.c), compiled with gcc once per test process into a
/// temporary directory, so the NCCL binding runs on machines without GPUs.
/// </summary>
public static class NcclStandIn
{
    private static readonly Lazy<string> s_library = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The path of the compiled stand-in; the first call compiles it.</summary>
    public static string LibraryPath => s_library.Value;

    /// <summary>The C source.</summary>
    public static string SourcePath => Path.Combine(TestPaths.RepoRoot, "tests", "NcclStandIn", "nccl_standin.c");

    /// <summary>The environment that makes the NCCL binding load the stand-in.</summary>
    public static IDictionary<string, string> Environment() => new Dictionary<string, string> { ["ADAN_NCCL_LIBRARY"] = LibraryPath };

    private static string Build()
    {
        var directory = Directory.CreateTempSubdirectory("adan-nccl-standin-");
        var output = Path.Combine(directory.FullName, "libnccl_standin.so");
        var psi = new ProcessStartInfo("gcc") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", output, SourcePath, "-ldl" })
        {
            psi.ArgumentList.Add(a);
        }
        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("gcc is needed to build the NCCL stand-in; run scripts/bootstrap.sh (it installs gcc) or apt-get install gcc.", e);
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"gcc could not build {SourcePath}: {stderr.Result}");
            }
        }
        AppDomain.CurrentDomain.ProcessExit += (_, _) => directory.Delete(recursive: true);
        return output;
    }
}
