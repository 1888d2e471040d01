namespace Adan.Sharded.Zero;

/// <summary>Too many consecutive steps had non-finite gradients; training cannot continue.</summary>
public sealed class NonFiniteGradientException(int consecutive, long totalSkipped)
    : Exception($"{consecutive} consecutive steps had non-finite (NaN or infinite) gradients ({totalSkipped} skipped in all); " +
        "lower the learning rate, enable max_grad_norm clipping, or raise the allowed consecutive skips.")
{
    /// <summary>Consecutive skipped steps when training stopped.</summary>
    public int Consecutive { get; } = consecutive;
}
