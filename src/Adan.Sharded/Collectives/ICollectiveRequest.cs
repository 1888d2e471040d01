namespace Adan.Sharded.Collectives;

/// <summary>A nonblocking collective in flight.</summary>
public interface ICollectiveRequest
{
    /// <summary>Blocks until the operation has completed on this rank and its result is in place.</summary>
    void Wait();

    /// <summary>
    /// Drives the operation without blocking and returns whether it has completed with its result in place (after
    /// which <see cref="Wait"/> returns at once). MPI moves a nonblocking collective along only inside MPI calls, so
    /// calling this while other work runs is what makes the operation overlap that work.
    /// </summary>
    bool Test();
}
