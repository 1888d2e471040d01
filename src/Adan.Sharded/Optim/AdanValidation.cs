using System.Globalization;

namespace Adan.Sharded.Optim;

/// <summary>
/// The argument checks shared by <see cref="Adan"/>, <see cref="Lamb"/> and the sharded optimizers, so both refuse the
/// same values with the same PyTorch-style message naming the argument, its value and the range.
/// </summary>
internal static class AdanValidation
{
    /// <summary>Checks one group's hyper-parameters; <paramref name="where"/> names the group (e.g. " of group 1"), or is empty.</summary>
    public static void HyperParameters(double lr, double eps, double weightDecay, double beta1, double beta2, double beta3, string where = "")
    {
        RequireNonNegative(lr, "lr", "learning rate", where);
        RequireNonNegative(eps, "eps", "epsilon", where);
        RequireNonNegative(weightDecay, "weight_decay", "weight decay", where);
        RequireBeta(beta1, "beta1", where);
        RequireBeta(beta2, "beta2", where);
        RequireBeta(beta3, "beta3", where);
    }

    /// <summary>Checks the global-norm clipping threshold.</summary>
    public static void MaxGradNorm(double value)
    {
        if (!(value >= 0))
        {
            throw new ArgumentException($"Invalid max_grad_norm: {Format(value)}; it must be >= 0 (0 disables clipping).", "maxGradNorm");
        }
    }

    public static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Throws unless <paramref name="value"/> ≥ 0, naming the argument and the group.</summary>
    public static void RequireNonNegative(double value, string name, string what, string where)
    {
        if (!(value >= 0))
        {
            throw new ArgumentException($"Invalid {what} {name}{where}: {Format(value)}; it must be >= 0.", name);
        }
    }

    /// <summary>Throws unless <paramref name="value"/> is in [0, 1), naming the argument and the group.</summary>
    public static void RequireBeta(double value, string name, string where)
    {
        if (!(value >= 0 && value < 1))
        {
            throw new ArgumentException($"Invalid {name}{where}: {Format(value)}; it must be in [0, 1).", name);
        }
    }
}
