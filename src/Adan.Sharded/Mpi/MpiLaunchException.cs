namespace Adan.Sharded.Mpi;

/// <summary>
/// The process was started in a way MPI cannot join (see <see cref="LaunchEnvironment"/>): the message names the launcher,
/// what MPI saw and the launch that works.
/// </summary>
public sealed class MpiLaunchException : Exception
{
    /// <summary>Creates the exception with a message that says what is wrong and how to fix it.</summary>
    public MpiLaunchException(string message) : base(message)
    {
    }
}
