using System.Globalization;
using Adan.Sharded.Schedules;

namespace Adan.Sharded.Training;

/// <summary>
/// Checks the learning-rate schedule the coordinator serves against this rank's own configuration before the rank trains
/// with it: every rank adopts the job's schedule, so one that is invalid, for another world size, or far from what this
/// rank was configured with (a rank 0 that lies, a coordinator that was tampered with) ends the rank instead.
/// </summary>
internal static class ServedSchedule
{
    /// <summary>How far the served peak learning rate may exceed this rank's configured one: 100×.</summary>
    /// <remarks>
    /// Every rank of a launch runs the same configuration, so the two peaks are normally equal; the margin leaves room for
    /// a rank 0 whose schedule legitimately differs (a resumed schedule, another scaling) without letting through a value
    /// that would make every rank's weights diverge.
    /// </remarks>
    public const double MaxPeakRatio = 100;

    /// <summary>Returns <paramref name="served"/> if it is valid, for <paramref name="own"/>'s world size, and its peak at most <see cref="MaxPeakRatio"/> × <paramref name="own"/>'s.</summary>
    /// <exception cref="InvalidDataException">One line naming what was refused, the values and the bound.</exception>
    public static LearningRateSchedule Check(LearningRateSchedule own, LearningRateSchedule served)
    {
        const string refused = "the learning-rate schedule the coordinator served was refused";
        const string fix = "every rank must run the same configuration; rank 0's is the job's";
        double peak;
        try
        {
            served.Validate();
            peak = served.PeakLearningRate;
        }
        catch (Exception e) when (e is ArgumentException or OverflowException)
        {
            throw new InvalidDataException($"{refused}: {e.Message} ({fix})", e);
        }
        if (served.WorldSize != own.WorldSize)
        {
            throw new InvalidDataException($"{refused}: it is for {served.WorldSize} ranks but this job has {own.WorldSize} ({fix})");
        }
        var bound = MaxPeakRatio * own.PeakLearningRate;
        if (!double.IsFinite(peak) || peak <= 0 || peak > bound)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{refused}: its peak learning rate {peak:G} is not finite and positive or exceeds {MaxPeakRatio:G} × this rank's configured peak {own.PeakLearningRate:G} ({fix})"));
        }
        return served;
    }
}
