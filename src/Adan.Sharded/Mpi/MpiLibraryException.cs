namespace Adan.Sharded.Mpi;

/// <summary>The MPI library could not be found or is not MPICH-ABI compatible.</summary>
public sealed class MpiLibraryException : Exception
{
    /// <summary>Creates the exception with a message that says what is wrong and how to fix it.</summary>
    public MpiLibraryException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}
