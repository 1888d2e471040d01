namespace Adan.Worker.Processes;

/// <summary>Finding a program as a shell would: the first directory of <c>PATH</c> that holds it.</summary>
internal static class ExecutableSearch
{
    /// <summary>The full path of <paramref name="name"/> in the first <c>PATH</c> directory that has it, or null.</summary>
    public static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);
}
