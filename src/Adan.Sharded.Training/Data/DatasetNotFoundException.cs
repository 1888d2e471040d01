namespace Adan.Sharded.Training.Data;

/// <summary>
/// A dataset file is missing; the message names the path and how to install or point to it.
/// </summary>
internal sealed class DatasetNotFoundException : Exception
{
    /// <summary>Creates the exception with a one-line message that says the fix.</summary>
    public DatasetNotFoundException(string message)
        : base(message)
    {
    }
}
