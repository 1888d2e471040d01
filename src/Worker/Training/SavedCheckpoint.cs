namespace Adan.Worker.Training;

/// <summary>A checkpoint this run committed.</summary>
/// <param name="Directory">Its directory.</param>
/// <param name="Bytes">Its size over all shards.</param>
/// <param name="Pause">How long training stood still for it.</param>
internal sealed record SavedCheckpoint(string Directory, long Bytes, TimeSpan Pause);
