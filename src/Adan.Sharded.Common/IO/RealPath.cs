using System.Runtime.InteropServices;

namespace Adan.Sharded.IO;

/// <summary>The canonical path of an existing file or directory: every link resolved, as the kernel would follow it.</summary>
public static partial class RealPath
{
    /// <summary>The canonical form of <paramref name="path"/>, or null when it does not exist or cannot be resolved.</summary>
    public static string? Of(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return Directory.Exists(path) || File.Exists(path) ? Path.GetFullPath(path) : null;
        }
        var resolved = Resolve(path, 0);
        if (resolved == 0)
        {
            return null;
        }
        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            Free(resolved);
        }
    }

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint Resolve(string path, nint buffer);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(nint pointer);
}
