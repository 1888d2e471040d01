using System.Security.Cryptography;
using System.Text;

namespace Adan.Coordinator.Auth;

/// <summary>One submitter credential: a name (a user or a team), the SHA-256 of its secret and an optional expiry.</summary>
/// <param name="Name">The name that owns jobs and checkpoint roots, and that audit lines name.</param>
/// <param name="Sha256">SHA-256 of the secret, 64 lowercase hex digits.</param>
/// <param name="Expires">When it stops being accepted; null for never.</param>
internal sealed record SubmitterCredential(string Name, string Sha256, DateTimeOffset? Expires);

/// <summary>What a presented secret is, as far as the submitter credentials know.</summary>
internal enum CredentialVerdict
{
    /// <summary>No credential has this secret (and none had it since this coordinator started).</summary>
    Unknown,

    /// <summary>A current credential.</summary>
    Valid,

    /// <summary>A credential past its expiry.</summary>
    Expired,

    /// <summary>A credential that was in the file and has been removed from it since this coordinator started.</summary>
    Revoked,
}

/// <summary>
/// The submitter credentials in force: replaced as a whole when the credentials file changes, so adding, revoking or
/// rotating one needs no restart. Only hashes are held; a presented secret is looked up by its SHA-256.
/// </summary>
/// <remarks>
/// SHA-256 rather than a slow password hash: secrets are 256 random bits made by <c>hash-credential</c>, which no
/// dictionary or brute force reaches, and a per-call PBKDF2 would cost every heartbeat milliseconds. Hashes of removed
/// credentials are remembered (by name) so that a revoked secret is refused as revoked rather than as unknown.
/// </remarks>
internal sealed class SubmitterCredentials
{
    private readonly Lock _gate = new();
    private Dictionary<string, SubmitterCredential> _byHash = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _revoked = new(StringComparer.Ordinal);

    /// <summary>How many credentials are in force (expired ones included).</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _byHash.Count;
            }
        }
    }

    /// <summary>Puts <paramref name="credentials"/> in force in place of the previous set; what disappeared counts as revoked.</summary>
    /// <returns>The names that were revoked (their last secret removed) by this replacement.</returns>
    public IReadOnlyList<string> Replace(IReadOnlyList<SubmitterCredential> credentials)
    {
        var next = credentials.ToDictionary(c => c.Sha256, StringComparer.Ordinal);
        lock (_gate)
        {
            foreach (var (hash, old) in _byHash)
            {
                if (!next.ContainsKey(hash))
                {
                    _revoked[hash] = old.Name;
                }
            }
            foreach (var hash in next.Keys)
            {
                _revoked.Remove(hash);
            }
            var revokedNames = _byHash.Values.Select(c => c.Name).Except(next.Values.Select(c => c.Name), StringComparer.Ordinal).ToList();
            _byHash = next;
            return revokedNames;
        }
    }

    /// <summary>What the secret <paramref name="presented"/> is at <paramref name="now"/>, and the credential's name if it was one.</summary>
    public (CredentialVerdict Verdict, SubmitterCredential? Credential, string? Name) Check(string presented, DateTimeOffset now)
    {
        var hash = Hash(presented);
        lock (_gate)
        {
            if (_byHash.TryGetValue(hash, out var credential))
            {
                return credential.Expires is { } expires && now >= expires
                    ? (CredentialVerdict.Expired, credential, credential.Name)
                    : (CredentialVerdict.Valid, credential, credential.Name);
            }
            return _revoked.TryGetValue(hash, out var name) ? (CredentialVerdict.Revoked, null, name) : (CredentialVerdict.Unknown, null, null);
        }
    }

    /// <summary>SHA-256 of a secret as 64 lowercase hex digits, the form the credentials file stores.</summary>
    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
}
