namespace Adan.Sharded.Zero;

/// <summary>A parameter group of a <see cref="ShardedOptimizer"/>: its options, its parameters (indices into the flat layout) and its step counter.</summary>
public sealed class ShardedGroup
{
    internal ShardedGroup(IGroupOptions options, int[] parameterIndices)
    {
        Options = options;
        ParameterIndices = parameterIndices;
    }

    /// <summary>The group's hyper-parameters, of the rule's options type; the learning rate may be changed between steps.</summary>
    public IGroupOptions Options { get; }

    /// <summary>Indices of the group's parameters in the flat layout.</summary>
    public IReadOnlyList<int> ParameterIndices { get; }

    /// <summary>The group's step counter: incremented by every applied step, even for parameters without a gradient; 0 after a restart.</summary>
    public long Step { get; internal set; }

    /// <summary>The options as the rule's record type.</summary>
    /// <exception cref="InvalidOperationException">The group holds another optimizer's options.</exception>
    public T OptionsAs<T>()
        where T : IGroupOptions =>
        Options is T typed
            ? typed
            : throw new InvalidOperationException($"the group holds {Options.GetType().Name}, not {typeof(T).Name}.");
}
