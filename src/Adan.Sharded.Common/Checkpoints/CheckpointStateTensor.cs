namespace Adan.Sharded.Checkpoints;

/// <summary>One optimizer state tensor in every shard file: its name, dtype and shape, so a later state kind (e.g. quantised with its scales) fits without another format.</summary>
/// <param name="Name">The rule's name for it (exp_avg, momentum_buffer, ...).</param>
/// <param name="Dtype">The safetensors dtype (F32 today).</param>
/// <param name="Shape">Its shape in each shard file ([shard_size] for a flat fp32 buffer).</param>
public sealed record CheckpointStateTensor(string Name, string Dtype, long[] Shape);
