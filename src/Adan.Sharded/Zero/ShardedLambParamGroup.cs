namespace Adan.Sharded.Zero;

/// <summary>A parameter group of <see cref="ShardedLamb"/>: options, its parameters (indices into the flat layout) and its step counter.</summary>
public sealed class ShardedLambParamGroup
{
    internal ShardedLambParamGroup(LambGroupOptions options, int[] parameterIndices)
    {
        Options = options;
        ParameterIndices = parameterIndices;
    }

    /// <summary>The group's hyper-parameters; <see cref="LambGroupOptions.LearningRate"/> may be changed between steps.</summary>
    public LambGroupOptions Options { get; }

    /// <summary>Indices of the group's parameters in the flat layout.</summary>
    public IReadOnlyList<int> ParameterIndices { get; }

    /// <summary>The group's step counter: incremented by every applied step, even for parameters without a gradient.</summary>
    public long Step { get; internal set; }
}
