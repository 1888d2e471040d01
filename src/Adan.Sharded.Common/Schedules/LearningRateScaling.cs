namespace Adan.Sharded.Schedules;

/// <summary>How the base learning rate scales when the global batch differs from the batch it was tuned for.</summary>
public enum LearningRateScaling
{
    /// <summary>Use the base learning rate unchanged.</summary>
    None,

    /// <summary><c>lr = base · global / base_batch</c>: the linear scaling rule (Goyal et al. 2017), suited to SGD.</summary>
    Linear,

    /// <summary><c>lr = base · √(global / base_batch)</c>: keeps the update variance constant, suited to adaptive optimizers such as Adan.</summary>
    Sqrt,
}
