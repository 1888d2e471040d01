namespace Adan.Sharded.Training.Config;

/// <summary>
/// A configuration key or value is invalid; the one-line message names the key, the value and the
/// valid range or choices.
/// </summary>
public sealed class ConfigException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ConfigException(string message)
        : base(message)
    {
    }
}
