namespace Adan.Sharded.Training;

/// <summary>A checkpoint this run committed.</summary>
/// <param name="Directory">Its directory.</param>
/// <param name="Bytes">Its size over all shards.</param>
/// <param name="Pause">How long training stood still for it: the whole save when synchronous; the staging copy, the
/// polls while it was written and the commit when saved in the background.</param>
internal sealed record SavedCheckpoint(string Directory, long Bytes, TimeSpan Pause)
{
    /// <summary>The optimizer step it holds.</summary>
    public long Step { get; init; }

    /// <summary>From the save's start to its commit; the same as <see cref="Pause"/> for a synchronous save.</summary>
    public TimeSpan Duration { get; init; } = Pause;
}
