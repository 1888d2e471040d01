using System.Globalization;
using System.Runtime.InteropServices;

namespace Adan.Sharded.Threading;

/// <summary>
/// The process-wide default thread count of the math libraries under libtorch (OpenMP's <c>OMP_NUM_THREADS</c>, MKL's
/// <c>MKL_NUM_THREADS</c>), set through libc before libtorch is loaded, so that a thread the runtime starts later (a
/// thread-pool thread an <c>await</c> resumes on, a background writer) does not get OpenMP's all-cores default.
/// </summary>
/// <remarks>
/// <para>
/// OpenMP keeps the thread count per OS thread: <c>torch.set_num_threads</c> binds the calling thread only, and every
/// other thread starts from the default that libgomp read from the environment when it was loaded. .NET's
/// <see cref="Environment.SetEnvironmentVariable(string, string)"/> does not change what native code reads with
/// <c>getenv</c> on Linux, so the variables are set with libc's <c>setenv</c> as well.
/// </para>
/// <para>
/// Once libtorch is loaded the defaults are fixed: <see cref="Apply"/> then sets the variables (for child processes)
/// and reports that they came too late for this process; <see cref="ComputeThread"/> still binds its own thread.
/// </para>
/// </remarks>
public static class NativeThreadDefaults
{
    /// <summary>The variables set, those of OpenMP and of MKL (which libtorch links statically).</summary>
    public static IReadOnlyList<string> Variables { get; } = ["OMP_NUM_THREADS", "MKL_NUM_THREADS"];

    /// <summary>
    /// MKL's conditional numerical reproducibility, set to <c>AUTO</c> unless the user chose a mode: without it MKL may
    /// split a product differently from run to run when it uses more than one thread (Intel's documentation), so two
    /// identical runs with <c>threads</c> above 1 would differ in their last bits.
    /// </summary>
    public const string ReproducibilityVariable = "MKL_CBWR";

    /// <summary>
    /// Sets every variable of <see cref="Variables"/> to <paramref name="threads"/> for this process (libc and .NET) and
    /// its children; returns whether it came before libtorch's OpenMP runtime was loaded, i.e. whether every thread of
    /// this process now defaults to <paramref name="threads"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is below 1.</exception>
    public static bool Apply(int threads)
    {
        if (threads < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(threads), threads, $"Invalid thread count: {threads}; it must be 1 or more.");
        }
        var loadedBefore = MathLibrariesLoaded();
        var value = threads.ToString(CultureInfo.InvariantCulture);
        foreach (var name in Variables)
        {
            Set(name, value);
        }
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(ReproducibilityVariable)))
        {
            Set(ReproducibilityVariable, "AUTO");
        }
        return !loadedBefore;
    }

    private static void Set(string name, string value)
    {
        Environment.SetEnvironmentVariable(name, value);
        if ((OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) && setenv(name, value, 1) != 0)
        {
            throw new InvalidOperationException($"setenv({name}) failed with errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    /// <summary>
    /// Whether libtorch's OpenMP runtime is already mapped into this process (Linux: read from <c>/proc/self/maps</c>;
    /// elsewhere assumed not, where the variables are read when the library initialises too).
    /// </summary>
    public static bool MathLibrariesLoaded()
    {
        const string maps = "/proc/self/maps";
        if (!OperatingSystem.IsLinux() || !File.Exists(maps))
        {
            return false;
        }
        foreach (var line in File.ReadLines(maps))
        {
            if (line.Contains("libgomp", StringComparison.Ordinal) || line.Contains("libtorch_cpu", StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }

    [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int setenv(string name, string value, int overwrite);
}
