namespace Adan.Sharded.Checkpoints;

/// <summary>
/// A checkpoint cannot be saved or loaded: a shard is missing, truncated or altered, the manifest is of an unknown
/// version, or the checkpoint does not fit the model. The message names the file and what differs; nothing on disk
/// and nothing in the model has been overwritten when it is thrown by a load.
/// </summary>
public sealed class CheckpointException : Exception
{
    /// <summary>Creates the exception with a message that names the file and the difference.</summary>
    public CheckpointException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception wrapping the error that revealed the problem.</summary>
    public CheckpointException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
