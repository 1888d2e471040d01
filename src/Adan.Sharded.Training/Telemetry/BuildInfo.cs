using System.Reflection;

namespace Adan.Sharded.Training.Telemetry;

/// <summary>
/// The program's version and the git commit it was built from, for the run records (<c>summary.json</c>, the checkpoint
/// manifest). Both come from the assembly's informational version, <c>VERSION+SHA</c>: the .NET SDK's source control
/// support sets SourceRevisionId from the checkout at build time and appends it; a build outside a git checkout has
/// the version alone.
/// </summary>
internal static class BuildInfo
{
    private static readonly (string? Version, string? Commit) s_parsed =
        Parse(typeof(BuildInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion);

    /// <summary>The program's version (e.g. <c>0.1.0</c>), null when the assembly does not record one.</summary>
    public static string? Version => s_parsed.Version;

    /// <summary>The full git commit id the program was built from, null when built outside a checkout.</summary>
    public static string? GitCommit => s_parsed.Commit;

    /// <summary>Splits an informational version <c>VERSION[+METADATA]</c> into the version and the commit id in its metadata.</summary>
    public static (string? Version, string? Commit) Parse(string? informationalVersion)
    {
        if (string.IsNullOrWhiteSpace(informationalVersion))
        {
            return (null, null);
        }
        var plus = informationalVersion.IndexOf('+', StringComparison.Ordinal);
        if (plus < 0)
        {
            return (informationalVersion, null);
        }
        // Build metadata may hold more than the commit (dot-separated); the commit is the part that is a hex object id.
        var commit = informationalVersion[(plus + 1)..].Split('.').FirstOrDefault(IsCommitId);
        return (informationalVersion[..plus], commit);
    }

    private static bool IsCommitId(string text) => text.Length is >= 7 and <= 64 && text.All(char.IsAsciiHexDigitLower);
}
