using System.Runtime.InteropServices;

namespace Adan.Worker.Commands;

/// <summary>POSIX signals to child processes; .NET's <see cref="System.Diagnostics.Process"/> can only SIGKILL.</summary>
internal static partial class Signal
{
    private const int SigTerm = 15;

    /// <summary>Asks a process to end (SIGTERM); returns false when it is already gone.</summary>
    public static bool Terminate(int pid) => Kill(pid, SigTerm) == 0;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
