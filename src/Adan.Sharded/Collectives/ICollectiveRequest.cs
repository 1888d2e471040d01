namespace Adan.Sharded.Collectives;

/// <summary>A nonblocking collective in flight.</summary>
public interface ICollectiveRequest
{
    /// <summary>Blocks until the operation has completed on this rank and its result is in place.</summary>
    void Wait();
}
