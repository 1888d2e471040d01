using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Adan.Worker.Processes;

/// <summary>Replaces this process with another program (<c>execvp</c>): same pid, same environment, same open standard streams.</summary>
internal static partial class ProcessImage
{
    /// <summary>
    /// Runs <paramref name="info"/>'s program with its arguments in place of this process. Returns only when that fails,
    /// with the reason; the environment is this process's as it started (not <paramref name="info"/>'s).
    /// </summary>
    public static unsafe string Replace(ProcessStartInfo info)
    {
        string[] words = [info.FileName, .. info.ArgumentList];
        var argv = new nint[words.Length + 1];
        try
        {
            for (var i = 0; i < words.Length; i++)
            {
                argv[i] = Marshal.StringToCoTaskMemUTF8(words[i]);
            }
            fixed (nint* pointers = argv)
            {
                ExecVp(argv[0], pointers);
            }
            return Marshal.GetLastPInvokeErrorMessage();
        }
        finally
        {
            foreach (var pointer in argv)
            {
                Marshal.FreeCoTaskMem(pointer);
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "execvp", SetLastError = true)]
    private static unsafe partial int ExecVp(nint file, nint* argv);
}
