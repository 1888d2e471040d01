namespace Adan.Sharded.Zero;

/// <summary>A parameter group of <see cref="ShardedAdan"/>: options, its parameters (indices into the flat layout) and its step counter.</summary>
public sealed class ShardedParamGroup
{
    internal ShardedParamGroup(AdanGroupOptions options, int[] parameterIndices)
    {
        Options = options;
        ParameterIndices = parameterIndices;
    }

    /// <summary>The group's hyper-parameters; <see cref="AdanGroupOptions.LearningRate"/> may be changed between steps.</summary>
    public AdanGroupOptions Options { get; }

    /// <summary>Indices of the group's parameters in the flat layout.</summary>
    public IReadOnlyList<int> ParameterIndices { get; }

    /// <summary>The group's step counter: incremented by every applied step, even for parameters without a gradient; 0 after a restart.</summary>
    public long Step { get; internal set; }
}
