
namespace Adan.Sharded.Optim;

/// <summary>
/// Factory functions in the style of <c>torch.optim</c>: <c>Optimizers.Adan(model.parameters(), lr: 1e-3)</c>.
/// </summary>
public static class Optimizers
{
    /// <summary>Creates an <see cref="Optim.Adan"/> optimizer over one group of parameters.</summary>
    /// <inheritdoc cref="Optim.Adan(IEnumerable{TorchSharp.Modules.Parameter}, double, double, double, double, double, double, double, bool)" path="/param"/>
    public static Adan Adan(IEnumerable<TorchSharp.Modules.Parameter> parameters, double lr = 1e-3, double beta1 = 0.98, double beta2 = 0.92,
        double beta3 = 0.99, double eps = 1e-8, double weightDecay = 0, double maxGradNorm = 0, bool noProx = false) =>
        new(parameters, lr, beta1, beta2, beta3, eps, weightDecay, maxGradNorm, noProx);

    /// <summary>Creates an <see cref="Optim.Adan"/> optimizer over one group of named parameters.</summary>
    /// <inheritdoc cref="Optim.Adan(IEnumerable{TorchSharp.Modules.Parameter}, double, double, double, double, double, double, double, bool)" path="/param"/>
    public static Adan Adan(IEnumerable<(string name, TorchSharp.Modules.Parameter parameter)> parameters, double lr = 1e-3, double beta1 = 0.98,
        double beta2 = 0.92, double beta3 = 0.99, double eps = 1e-8, double weightDecay = 0, double maxGradNorm = 0, bool noProx = false) =>
        new(parameters, lr, beta1, beta2, beta3, eps, weightDecay, maxGradNorm, noProx);

    /// <summary>Creates an <see cref="Optim.Adan"/> optimizer over parameter groups; unset group options take these values.</summary>
    /// <inheritdoc cref="Optim.Adan(IEnumerable{TorchSharp.Modules.Parameter}, double, double, double, double, double, double, double, bool)" path="/param"/>
    public static Adan Adan(IEnumerable<Optim.Adan.ParamGroup> parameters, double lr = 1e-3, double beta1 = 0.98, double beta2 = 0.92,
        double beta3 = 0.99, double eps = 1e-8, double weightDecay = 0, double maxGradNorm = 0, bool noProx = false) =>
        new(parameters, lr, beta1, beta2, beta3, eps, weightDecay, maxGradNorm, noProx);
}
