namespace Adan.Sharded.Optim;

/// <summary>
/// The argument checks shared by <see cref="Lamb"/> and the sharded LAMB, with the messages of
/// <see cref="AdanValidation"/> (argument, value, valid range).
/// </summary>
internal static class LambValidation
{
    /// <summary>Checks one group's hyper-parameters; <paramref name="where"/> names the group (e.g. " of parameter group 1"), or is empty.</summary>
    public static void HyperParameters(double lr, double eps, double weightDecay, double beta1, double beta2, string where = "")
    {
        AdanValidation.RequireNonNegative(lr, "lr", "learning rate", where);
        AdanValidation.RequireNonNegative(eps, "eps", "epsilon", where);
        AdanValidation.RequireNonNegative(weightDecay, "weight_decay", "weight decay", where);
        AdanValidation.RequireBeta(beta1, "beta1", where);
        AdanValidation.RequireBeta(beta2, "beta2", where);
    }

    /// <summary>Checks the global-norm clipping threshold: null or 0 disables clipping, otherwise it must be finite and positive.</summary>
    public static void MaxGradNorm(double? value)
    {
        if (value is { } v && !(v >= 0 && double.IsFinite(v)))
        {
            throw new ArgumentException(
                $"Invalid max_grad_norm: {AdanValidation.Format(v)}; it must be a finite value >= 0 (null or 0 disables clipping).", "maxGradNorm");
        }
    }
}
