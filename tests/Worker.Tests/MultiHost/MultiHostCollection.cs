namespace Adan.Worker.Tests.MultiHost;

/// <summary>
/// The multi-host tests, one at a time: each runs several ranks on a 2-core machine, and together they would only
/// slow each other down.
/// </summary>
[CollectionDefinition(Name)]
public sealed class MultiHostCollection
{
    public const string Name = "namespace hosts";

    /// <summary>
    /// The trait `make test` runs in a pass of its own, after every other test: making and removing namespace hosts
    /// adds and removes network interfaces, and an MPI start-up elsewhere that lists interfaces at that moment (UCX)
    /// fails with "No such device".
    /// </summary>
    public const string Category = "MultiHost";
}
