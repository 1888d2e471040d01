namespace Adan.Sharded.Zero;

/// <summary>
/// The hyper-parameters of one parameter group of one optimizer (<see cref="AdanGroupOptions"/>,
/// <see cref="LambGroupOptions"/>, <see cref="AdamWGroupOptions"/>, <see cref="SgdGroupOptions"/>): what the engine and
/// the trainer need to know of any of them. Each record also binds a config section and is saved per group in a checkpoint.
/// </summary>
/// <remarks>
/// Each JSON property of a record carries a <c>[Description]</c> and, for a number, the <c>[Range]</c> a config key
/// listing shows; <see cref="Validate"/> is the check itself, and the worker's key-table tests keep the two in step.
/// </remarks>
public interface IGroupOptions
{
    /// <summary>Learning rate (≥ 0); may change every step.</summary>
    double LearningRate { get; set; }

    /// <summary>The weight decay of the group (≥ 0), in the optimizer's own form.</summary>
    double WeightDecay { get; }

    /// <summary>
    /// Global gradient-norm clipping threshold (0 = off). It is the optimizer's setting, not the group's: like the
    /// references' <c>defaults['max_grad_norm']</c>, the engine takes it from the first group unless told otherwise.
    /// </summary>
    double MaxGradNorm { get; }

    /// <summary>A copy with weight decay 0: the group of biases and normalisation weights in the reference recipes.</summary>
    IGroupOptions WithoutWeightDecay();

    /// <summary>Throws <see cref="ArgumentException"/> naming the first value out of range, in PyTorch's words.</summary>
    void Validate();
}
