using System.Globalization;

namespace Adan.Sharded.Training;

/// <summary>
/// A fault the liveness tests inject into one rank through <c>ADAN_TEST_FAULT=RANK:STEP:KIND</c>: before step STEP
/// (zero-based) rank RANK throws (<c>throw</c>), blocks its training thread for good while its heartbeat thread goes
/// on (<c>hang</c>), dies by SIGKILL, reporting nothing (<c>kill</c>), or waits until a preemption signal reaches it
/// (<c>signal</c>: a run that a test preempts stops after step STEP on every machine, however fast). Only the first attempt of a launch meets it:
/// an attempt that <c>adan launch --max-restarts</c> restarted (<see cref="JobEnvironment.Restarts"/> &gt; 0) runs clean,
/// so that the elastic-restart tests fail a job once. Read by the trainer only, never by the library; unset, it costs
/// one null check per step.
/// </summary>
internal sealed class TestFault
{
    /// <summary>The variable the tests set.</summary>
    public const string Variable = "ADAN_TEST_FAULT";

    private readonly long _step;
    private readonly string _kind;

    private TestFault(long step, string kind)
    {
        _step = step;
        _kind = kind;
    }

    /// <summary>The fault for <paramref name="rank"/>, or null when none is set for it.</summary>
    /// <exception cref="ArgumentException">The variable is set but malformed.</exception>
    public static TestFault? ForRank(int rank)
    {
        var text = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }
        var parts = text.Split(':');
        if (parts.Length != 3 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var faultRank)
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var step) || parts[2] is not ("throw" or "hang" or "kill" or "signal"))
        {
            throw new ArgumentException($"{Variable}={text}: expected RANK:STEP:throw, RANK:STEP:hang, RANK:STEP:kill or RANK:STEP:signal");
        }
        return faultRank == rank && JobEnvironment.Restarts == 0 ? new TestFault(step, parts[2]) : null;
    }

    /// <summary>Throws, blocks or waits for <paramref name="preemption"/> when <paramref name="step"/> is the fault's step.</summary>
    public void BeforeStep(long step, PreemptionRequest? preemption)
    {
        if (step != _step)
        {
            return;
        }
        if (_kind == "signal" && preemption is not null)
        {
            preemption.Requested.Wait();
            return;
        }
        if (_kind == "hang")
        {
            Thread.Sleep(Timeout.Infinite);
        }
        if (_kind == "kill")
        {
            // As the kernel's OOM killer or an operator would: no report, no flush, no exit code of its own.
            System.Diagnostics.Process.GetCurrentProcess().Kill();
        }
        throw new InvalidOperationException($"injected fault before step {step} ({Variable})");
    }
}
