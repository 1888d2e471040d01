namespace Adan.Sharded.Checkpoints;

/// <summary>One Adan parameter group in the manifest: its options when saved, its step count and its parameters.</summary>
/// <param name="LearningRate">The group's learning rate when saved.</param>
/// <param name="Beta1">β1.</param>
/// <param name="Beta2">β2.</param>
/// <param name="Beta3">β3.</param>
/// <param name="Eps">ε.</param>
/// <param name="WeightDecay">Decoupled weight decay.</param>
/// <param name="NoProx">The weight-decay form.</param>
/// <param name="Step">The group's step counter.</param>
/// <param name="Parameters">Indices of the group's parameters in the flat layout.</param>
public sealed record CheckpointGroup(
    double LearningRate,
    double Beta1,
    double Beta2,
    double Beta3,
    double Eps,
    double WeightDecay,
    bool NoProx,
    long Step,
    int[] Parameters);
