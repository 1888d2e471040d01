using System.Diagnostics;

namespace Adan.Sharded.Telemetry;

/// <summary>The library's trace source, <c>Adan.Sharded</c> (spans cost nothing unless a listener is attached).</summary>
public static class ShardedTelemetry
{
    /// <summary>The component name used for the ActivitySource.</summary>
    public const string Name = "Adan.Sharded";

    /// <summary>Spans of the library's phases (checkpoint write, commit, load).</summary>
    public static readonly ActivitySource ActivitySource = new(Name);
}
