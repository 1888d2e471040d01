using System.Runtime.InteropServices;

namespace Adan.Sharded.Training.Processes;

/// <summary>POSIX signals to child processes; .NET's <see cref="System.Diagnostics.Process"/> can only SIGKILL.</summary>
internal static partial class Signal
{
    private const int SigHangUp = 1;
    private const int SigInt = 2;
    private const int SigTerm = 15;
    private const int SigUser1 = 10;
    private const int PrSetChildSubreaper = 36;

    /// <summary>
    /// SIGUSR1 as a <see cref="PosixSignal"/>, which names only the signals every platform has; Linux numbers it 10 (as
    /// x86-64 and arm64 do), and <see cref="PosixSignalRegistration"/> takes the raw number.
    /// </summary>
    public const PosixSignal User1 = (PosixSignal)SigUser1;

    /// <summary>Asks a process to save and stop (SIGUSR1, see <c>ExitCodes.Preempted</c>); returns false when it is already gone.</summary>
    public static bool AskToSave(int pid) => Kill(pid, SigUser1) == 0;

    /// <summary>Asks a process to end (SIGTERM); returns false when it is already gone.</summary>
    public static bool Terminate(int pid) => Kill(pid, SigTerm) == 0;

    /// <summary>Sends SIGHUP (a server's "reload your configuration"); returns false when the process is already gone.</summary>
    public static bool HangUp(int pid) => Kill(pid, SigHangUp) == 0;

    /// <summary>Interrupts a process (SIGINT, as Ctrl-C); returns false when it is already gone.</summary>
    public static bool Interrupt(int pid) => Kill(pid, SigInt) == 0;

    /// <summary>
    /// Makes this process the child subreaper of everything it starts (Linux <c>PR_SET_CHILD_SUBREAPER</c>): a descendant
    /// whose parent dies (a Hydra proxy after mpiexec was killed) is re-parented here instead of to init, so it stays in
    /// this process's tree and can still be found and ended. Returns false where the kernel refuses.
    /// </summary>
    public static bool AdoptOrphans() => SetProcessControl(PrSetChildSubreaper, 1, 0, 0, 0) == 0;

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int SetProcessControl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
