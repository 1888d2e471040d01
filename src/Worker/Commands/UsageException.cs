namespace Adan.Worker.Commands;

/// <summary>
/// A command's arguments are unusable; <see cref="CommandLineRunner"/> reports the one-line message, which names the
/// argument and what it accepts, and exits with <see cref="ExitCodes.Usage"/>.
/// </summary>
internal sealed class UsageException(string message) : Exception(message);
