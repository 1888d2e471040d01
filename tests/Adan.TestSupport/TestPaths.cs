namespace Adan.TestSupport;

/// <summary>Locations the tests read: the repository root and the golden trajectories (Adan and LAMB).</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The golden directory: <c>ADAN_GOLDEN_DIR</c>, else <c>../shared/golden/adan</c> beside the repository.</summary>
    public static string GoldenDir => Golden(GoldenVariable, "adan");

    /// <summary>The LAMB golden directory: <c>LAMB_GOLDEN_DIR</c>, else <c>../shared/golden/lamb</c> beside the repository.</summary>
    public static string LambGoldenDir => Golden(LambGoldenVariable, "lamb");

    /// <summary>Overrides <see cref="GoldenDir"/>.</summary>
    public const string GoldenVariable = "ADAN_GOLDEN_DIR";

    /// <summary>Overrides <see cref="LambGoldenDir"/>.</summary>
    public const string LambGoldenVariable = "LAMB_GOLDEN_DIR";

    /// <summary>
    /// The <c>*.json</c> files of a golden directory, sorted by name; a missing directory is an error that names the
    /// variable to set, so a misplaced checkout never passes by running no case.
    /// </summary>
    public static IEnumerable<string> GoldenFiles(string directory, string variable)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"Golden directory {directory} not found; set {variable} to the golden trajectories' directory.");
        }
        return Directory.EnumerateFiles(directory, "*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal)!;
    }

    private static string Golden(string variable, string optimizer) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } dir
            ? Path.GetFullPath(dir)
            : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "golden", optimizer));

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Adan.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"Adan.sln not found above {AppContext.BaseDirectory}");
    }
}
