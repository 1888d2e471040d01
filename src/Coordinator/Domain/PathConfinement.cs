namespace Adan.Coordinator.Domain;

/// <summary>
/// The directories the coordinator may write under: its data directory and the checkpoint roots it was started with.
/// A client names checkpoint roots, and the coordinator creates directories there, writes manifests there and lets
/// retention delete there, so a path from a client is only used once it is known to lie under one of these.
/// </summary>
/// <remarks>
/// Symbolic links are resolved before the comparison, on the roots and on every existing component of the path, so
/// neither <c>..</c> nor a link inside a root leads out of it. A component created after the check could still be a
/// link; that needs write access inside a root, which is the trust the operator gave by naming the root.
/// </remarks>
internal sealed class PathConfinement
{
    private readonly IReadOnlyList<string> _roots;

    /// <summary>Confines writes to <paramref name="roots"/> (absolute; they need not exist yet).</summary>
    public PathConfinement(IEnumerable<string> roots)
    {
        _roots = [.. roots.Select(Resolve).Distinct(StringComparer.Ordinal)];
        if (_roots.Count == 0)
        {
            throw new ArgumentException("at least one permitted root is needed", nameof(roots));
        }
    }

    /// <summary>The permitted roots, links resolved.</summary>
    public IReadOnlyList<string> Roots => _roots;

    /// <summary>The absolute, link-resolved form of <paramref name="path"/> if it lies under a permitted root.</summary>
    /// <exception cref="CoordinatorException">PermissionDenied naming the path (never the roots); InvalidArgument for a relative path.</exception>
    public string Check(string path)
    {
        if (!Path.IsPathFullyQualified(path))
        {
            throw CoordinatorException.InvalidArgument($"invalid checkpoint root '{path}' (must be an absolute path)");
        }
        var resolved = Resolve(path);
        if (!_roots.Any(root => IsUnder(resolved, root)))
        {
            // The permitted roots are not listed: they tell any client holding a token where other jobs write.
            throw CoordinatorException.PermissionDenied(
                $"'{path}' is outside the directories this coordinator may write; "
                + "ask its operator for a permitted root, or start it with --checkpoint-root DIR for that directory");
        }
        return resolved;
    }

    private static bool IsUnder(string path, string root) =>
        path == root || path.StartsWith(Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>
    /// The full path with <c>.</c> and <c>..</c> removed and every existing component that is a symbolic link replaced
    /// by its final target, as the kernel would follow it.
    /// </summary>
    internal static string Resolve(string path)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        var root = Path.GetPathRoot(full) ?? "/";
        var resolved = root;
        var parts = full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(resolved, parts[i]);
            var info = new DirectoryInfo(next);
            if (info.LinkTarget is not null)
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true);
                if (target is not null)
                {
                    // The target may itself hold links above its last component and "..": resolve it as a path.
                    next = Resolve(target.FullName);
                }
            }
            else if (!info.Exists && !File.Exists(next))
            {
                // Nothing below a missing component can be a link yet.
                return Path.GetFullPath(Path.Combine([next, .. parts[(i + 1)..]]));
            }
            resolved = next;
        }
        return Path.TrimEndingDirectorySeparator(resolved) is { Length: > 0 } trimmed ? trimmed : root;
    }
}
