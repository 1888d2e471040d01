namespace Adan.Coordinator.Domain;

/// <summary>
/// The coordinator's data directory and database, private to the user running it: the database holds every job's token
/// hash, members and checkpoint catalogue, which no other user of the machine should read or change.
/// </summary>
/// <remarks>
/// A directory the coordinator creates is 0700; an existing one is left as it is (it may be shared, even <c>/tmp</c>).
/// The database is created 0600, or narrowed to 0600 when an older coordinator left it open; SQLite creates its
/// <c>-wal</c> and <c>-shm</c> files with the database's mode. No-ops on Windows, whose ACLs decide.
/// </remarks>
internal static class PrivateDataDirectory
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates <paramref name="directory"/> (0700) when missing and makes <paramref name="database"/> in it 0600.</summary>
    /// <returns>The database's path.</returns>
    public static string Prepare(string directory, string database)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            return Path.Combine(directory, database);
        }
        Directory.CreateDirectory(directory, OwnerOnly | UnixFileMode.UserExecute);
        var path = Path.Combine(directory, database);
        foreach (var file in new[] { path, path + "-wal", path + "-shm", path + "-journal" })
        {
            if (File.Exists(file) && (File.GetUnixFileMode(file) & ~OwnerOnly) != 0)
            {
                File.SetUnixFileMode(file, OwnerOnly);
            }
        }
        // Created empty and private before SQLite opens it, so it is never readable by others, not even for a moment.
        using (new FileStream(path, new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.Write, Share = FileShare.ReadWrite, UnixCreateMode = OwnerOnly }))
        {
        }
        return path;
    }
}
