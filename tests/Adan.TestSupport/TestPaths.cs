namespace Adan.TestSupport;

/// <summary>Locations the tests read: the repository root and the golden trajectories (Adan and LAMB).</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The golden directory: <c>ADAN_GOLDEN_DIR</c>, else <c>../shared/golden/adan</c> beside the repository.</summary>
    public static string GoldenDir =>
        Environment.GetEnvironmentVariable("ADAN_GOLDEN_DIR") is { Length: > 0 } dir
            ? Path.GetFullPath(dir)
            : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "golden", "adan"));

    /// <summary>The LAMB golden directory: <c>LAMB_GOLDEN_DIR</c>, else <c>../shared/golden/lamb</c> beside the repository.</summary>
    public static string LambGoldenDir =>
        Environment.GetEnvironmentVariable("LAMB_GOLDEN_DIR") is { Length: > 0 } dir
            ? Path.GetFullPath(dir)
            : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "golden", "lamb"));

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
