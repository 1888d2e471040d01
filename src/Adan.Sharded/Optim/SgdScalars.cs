namespace Adan.Sharded.Optim;

/// <summary>The per-step scalars of one SGD update of one group, narrowed once for the fp32 kernel.</summary>
/// <param name="LearningRate">Learning rate.</param>
/// <param name="Momentum">Momentum factor (0: plain SGD, no buffer).</param>
/// <param name="OneMinusDampening">Weight of the new gradient in the momentum buffer.</param>
/// <param name="WeightDecay">L2 penalty added to the gradient.</param>
/// <param name="Nesterov">Nesterov momentum.</param>
/// <param name="GradientCoefficient">Multiplies every gradient element: 1/(W·k) and the clip coefficient.</param>
public readonly record struct SgdScalars(float LearningRate, float Momentum, float OneMinusDampening, float WeightDecay, bool Nesterov,
    float GradientCoefficient)
{
    /// <summary>The scalars of one group for one step.</summary>
    public static SgdScalars Of(double lr, double momentum, double dampening, double weightDecay, bool nesterov, double gradientCoefficient) =>
        new((float)lr, (float)momentum, (float)(1 - dampening), (float)weightDecay, nesterov, (float)gradientCoefficient);
}
