using System.Globalization;

namespace Adan.Worker.Training;

/// <summary>
/// A fault the liveness tests inject into one rank through <c>ADAN_TEST_FAULT=RANK:STEP:KIND</c>: before step STEP
/// (zero-based) rank RANK throws (<c>throw</c>) or blocks its training thread for good while its heartbeat thread goes
/// on (<c>hang</c>). Read by the trainer only, never by the library; unset, it costs one null check per step.
/// </summary>
internal sealed class TestFault
{
    /// <summary>The variable the tests set.</summary>
    public const string Variable = "ADAN_TEST_FAULT";

    private readonly long _step;
    private readonly bool _hang;

    private TestFault(long step, bool hang)
    {
        _step = step;
        _hang = hang;
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
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var step) || parts[2] is not ("throw" or "hang"))
        {
            throw new ArgumentException($"{Variable}={text}: expected RANK:STEP:throw or RANK:STEP:hang");
        }
        return faultRank == rank ? new TestFault(step, parts[2] == "hang") : null;
    }

    /// <summary>Throws or blocks when <paramref name="step"/> is the fault's step.</summary>
    public void BeforeStep(long step)
    {
        if (step != _step)
        {
            return;
        }
        if (_hang)
        {
            Thread.Sleep(Timeout.Infinite);
        }
        throw new InvalidOperationException($"injected fault before step {step} ({Variable})");
    }
}
