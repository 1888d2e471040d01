namespace Adan.Worker.Tests.MultiHost;

/// <summary>
/// The multi-host tests, one at a time: each runs several ranks on a 2-core machine, and together they would only
/// slow each other down.
/// </summary>
[CollectionDefinition(Name)]
public sealed class MultiHostCollection
{
    public const string Name = "namespace hosts";
}
