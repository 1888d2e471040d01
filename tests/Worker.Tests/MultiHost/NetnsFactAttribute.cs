namespace Adan.Worker.Tests.MultiHost;

/// <summary>
/// A test that needs namespace hosts (<see cref="NetnsCluster"/>): run where they can be made (as root with
/// <c>ip netns</c>, as in CI), reported as skipped with the reason elsewhere.
/// </summary>
public sealed class NetnsFactAttribute : FactAttribute
{
    public NetnsFactAttribute()
    {
        if (NetnsCluster.Unavailable is { } reason)
        {
            Skip = reason;
        }
    }
}
