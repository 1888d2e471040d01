using Adan.Sharded.Tensors;
using Adan.Sharded.Zero;
using TorchSharp;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// Host memory through which a rank's checkpoint data passes when its tensors are not in CPU memory (a GPU run): one
/// host tensor for the rank's slice of the parameters and one per optimizer state buffer, allocated once and page-locked
/// (<c>pin_memory()</c>) when CUDA is present, so a device↔host copy runs at the link's speed. A save copies the
/// shard device → host at its step boundary and writes the file from here; a load scatters the shard files into here
/// and copies host → device.
/// </summary>
/// <remarks>
/// <para>
/// The files, and so their checksums, are the same as those of a save from CPU tensors: the same header and the same
/// five slices, only read from another address. Tests force staging on CPU tensors (<see cref="HostStaging(ShardedOptimizer, int)"/>
/// works on any device) to check exactly that.
/// </para>
/// <para>
/// Size: the parameter slice (S fp32 elements) and the stored state tensors as the rank keeps them (for fp32 state S
/// elements each for ZeRO-1/2, the whole buffer for stage 0, which loads whole buffers; low-precision state in its own
/// dtypes, see <see cref="ShardedOptimizer.StoredState"/>); see <see cref="Bytes"/>.
/// Not thread-safe: a save and a load must not use one staging set at the same time (the trainer never does).
/// </para>
/// </remarks>
public sealed class HostStaging : IDisposable
{
    private readonly ShardedOptimizer _adan;
    private readonly long _shardStart;
    private readonly long _shardSize;
    private readonly torch.Tensor _deviceParameters;
    private readonly torch.Tensor _parameters;
    private readonly torch.Tensor[] _states;
    private readonly torch.Tensor[] _deviceStateShards;
    private readonly torch.Tensor[] _stateShards;

    /// <summary>Allocates the staging set for <paramref name="adan"/>'s shard on rank <paramref name="rank"/>.</summary>
    /// <param name="adan">The optimizer whose parameters and state pass through this memory.</param>
    /// <param name="rank">This process's rank (whose shard is saved).</param>
    public HostStaging(ShardedOptimizer adan, int rank)
    {
        ArgumentNullException.ThrowIfNull(adan);
        var layout = adan.Flat.Layout;
        if (rank < 0 || rank >= layout.WorldSize)
        {
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank must be in [0, {layout.WorldSize}).");
        }
        _adan = adan;
        _shardStart = layout.ShardStart(rank);
        _shardSize = layout.ShardSize;
        Pinned = torch.cuda.is_available();
        _deviceParameters = adan.Flat.Values.narrow(0, _shardStart, _shardSize).DetachFromDisposeScope();
        _parameters = HostBuffer(_shardSize, Pinned);
        var stored = adan.StoredState;
        _states = stored.Select(t => HostBuffer(t.Tensor.numel(), t.Tensor.dtype, Pinned)).ToArray();
        _deviceStateShards = stored.Select(t => Slice(t.Tensor, adan.ShardSlice(t, rank))).ToArray();
        _stateShards = stored.Select((t, i) => Slice(_states[i], adan.ShardSlice(t, rank))).ToArray();
        Bytes = _shardSize * sizeof(float) + stored.Sum(t => t.Tensor.numel() * t.ElementSize);
    }

    /// <summary>Whether checkpoints of <paramref name="adan"/> must pass through host staging: its tensors are not in CPU memory.</summary>
    public static bool IsRequired(ShardedOptimizer adan)
    {
        ArgumentNullException.ThrowIfNull(adan);
        return adan.Flat.Values.device_type != DeviceType.CPU;
    }

    /// <summary>Bytes of host memory held: 4 × S for the parameters and the bytes of the rank's stored state (fp32: 4 × 4 × its state length).</summary>
    public long Bytes { get; }

    /// <summary>Whether the memory is page-locked (CUDA is present).</summary>
    public bool Pinned { get; }

    /// <summary>The host buffer of the rank's parameter slice (S elements), where a load scatters it.</summary>
    internal torch.Tensor Parameters => _parameters;

    /// <summary>The host buffer of a stored state tensor, as long as the rank keeps it, where a load scatters it.</summary>
    internal torch.Tensor State(string name) => _states[StateIndex(name)];

    /// <summary>Throws unless this staging set was made for <paramref name="adan"/>.</summary>
    internal void RequireFor(ShardedOptimizer adan)
    {
        if (!ReferenceEquals(adan, _adan))
        {
            throw new ArgumentException("this host staging was allocated for another optimizer; allocate one per optimizer.", nameof(adan));
        }
    }

    /// <summary>
    /// Copies the rank's shard (parameters and the four state buffers, [start, start + S) of each) device → host and
    /// returns its slices in file order, as <see cref="CheckpointWriter.LiveShard"/> does for CPU tensors. Returns once
    /// the copies are done, so training may change the device tensors afterwards.
    /// </summary>
    internal IReadOnlyList<(IntPtr Data, long Bytes)> CopyShardToHost()
    {
        using var noGrad = torch.no_grad();
        _parameters.copy_(_deviceParameters);
        for (var i = 0; i < _stateShards.Length; i++)
        {
            _stateShards[i].copy_(_deviceStateShards[i]);
        }
        var bytes = _shardSize * sizeof(float);
        return [(TensorMemory.DataPointer(_parameters), bytes), .. _stateShards.Select(s => (TensorMemory.DataPointer(s), s.numel() * s.ElementSize))];
    }

    /// <summary>Copies what a load scattered into the host buffers host → device: the parameter slice and the whole state buffers.</summary>
    internal void CopyToDevice()
    {
        using var noGrad = torch.no_grad();
        _deviceParameters.copy_(_parameters);
        for (var i = 0; i < _states.Length; i++)
        {
            _adan.StoredState[i].Tensor.copy_(_states[i]);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var tensor in _stateShards.Concat(_deviceStateShards).Concat(_states).Append(_parameters).Append(_deviceParameters))
        {
            tensor.Dispose();
        }
    }

    private int StateIndex(string name)
    {
        for (var i = 0; i < _adan.StoredState.Count; i++)
        {
            if (_adan.StoredState[i].Name == name)
            {
                return i;
            }
        }
        throw new ArgumentException(
            $"unknown {_adan.Name} state tensor '{name}'; expected {string.Join(", ", _adan.StoredState.Select(t => t.Name))}.", nameof(name));
    }

    private static torch.Tensor Slice(torch.Tensor tensor, (long Offset, long Count) slice) =>
        tensor.narrow(0, slice.Offset, slice.Count).DetachFromDisposeScope();

    private static torch.Tensor HostBuffer(long length, bool pinned) => HostBuffer(length, torch.ScalarType.Float32, pinned);

    private static torch.Tensor HostBuffer(long length, torch.ScalarType dtype, bool pinned)
    {
        var buffer = torch.zeros(length, dtype: dtype);
        if (!pinned)
        {
            return buffer.DetachFromDisposeScope();
        }
        var locked = buffer.pin_memory();
        buffer.Dispose();
        return locked.DetachFromDisposeScope();
    }
}
