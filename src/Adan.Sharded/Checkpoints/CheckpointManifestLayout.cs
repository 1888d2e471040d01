using Adan.Sharded.Flat;

namespace Adan.Sharded.Checkpoints;

/// <summary>Reads a manifest's layout document into the <see cref="FlatLayout"/> the shards slice.</summary>
/// <remarks>
/// An extension rather than a member: the manifest model lives in the torch-free Adan.Sharded.Common, which the
/// coordinator uses, while <see cref="FlatLayout"/> belongs to the tensor library.
/// </remarks>
public static class CheckpointManifestLayout
{
    /// <summary>The layout the shards slice, checked for self-consistency.</summary>
    /// <param name="manifest">The checkpoint's manifest.</param>
    /// <param name="source">The manifest's path, for messages.</param>
    /// <exception cref="CheckpointException">The layout breaks the layout rules.</exception>
    public static FlatLayout ReadLayout(this CheckpointManifest manifest, string source)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        try
        {
            return FlatLayout.FromDocument(manifest.Layout);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            throw new CheckpointException($"{source}: the layout is not valid: {e.Message}", e);
        }
    }
}
