namespace Adan.Worker.Commands.Sweep;

/// <summary>Warm-up given in epochs, turned into the optimizer steps the trainer counts.</summary>
internal static class WarmupSchedule
{
    /// <summary>
    /// <c>round(warmupEpochs × stepsPerEpoch)</c>, at most <c>totalSteps − 1</c>: the trainer caps a longer warm-up there
    /// so that its last step reaches the peak, and the sweep records the warm-up the trainer really uses.
    /// </summary>
    public static long Steps(double warmupEpochs, long stepsPerEpoch, long totalSteps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(warmupEpochs);
        ArgumentOutOfRangeException.ThrowIfNegative(stepsPerEpoch);
        return Capped((long)Math.Round(warmupEpochs * stepsPerEpoch, MidpointRounding.AwayFromZero), totalSteps);
    }

    /// <summary><paramref name="steps"/> capped at <c>totalSteps − 1</c>, where the trainer caps a warm-up.</summary>
    public static long Capped(long steps, long totalSteps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        return Math.Min(steps, Math.Max(0, totalSteps - 1));
    }
}
