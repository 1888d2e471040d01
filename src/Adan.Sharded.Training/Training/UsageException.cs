namespace Adan.Sharded.Training;

/// <summary>
/// A command's arguments are unusable; the <c>adan</c> command runner reports the one-line message, which names the
/// argument and what it accepts, and exits with <see cref="ExitCodes.Usage"/>.
/// </summary>
internal sealed class UsageException(string message) : Exception(message);
