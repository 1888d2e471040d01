namespace Adan.Sharded.Nccl;

/// <summary>The NCCL library could not be loaded, is too old, or cannot work on the tensors it was given; the message says how to fix it.</summary>
public sealed class NcclLibraryException : Exception
{
    /// <summary>Creates the exception with a message that names the problem and the fix.</summary>
    public NcclLibraryException(string message) : base(message)
    {
    }
}
