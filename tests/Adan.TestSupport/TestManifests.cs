using Adan.Sharded.Checkpoints;
using Adan.Sharded.Flat;

namespace Adan.TestSupport;

/// <summary>Valid manifests for catalogue and commit tests that are about the commit, not the tensors.</summary>
public static class TestManifests
{
    /// <summary>A manifest of <paramref name="step"/> over <paramref name="worldSize"/> ranks with the given shards (none by default).</summary>
    public static CheckpointManifest Create(long step, int worldSize, params CheckpointShard[] shards) => new()
    {
        Step = step,
        WorldSize = worldSize,
        Layout = new FlatLayoutDocument(1, 1, worldSize, worldSize, [new FlatLayoutDocument.Entry("w", [worldSize], 0, worldSize)]),
        Tensors = ["param", "exp_avg"],
        Optimizer = new CheckpointOptimizerState("adan", 0, 0, [])
        {
            ParameterSteps = [step],
            State = [new CheckpointStateTensor("exp_avg", "F32", [1])],
        },
        Shards = shards,
    };
}
