using System.Security.Cryptography;
using System.Text;

namespace Adan.Coordinator.Auth;

/// <summary>The job's shared secret, compared in constant time.</summary>
internal sealed class JobToken
{
    private const string BearerPrefix = "Bearer ";
    private readonly byte[] _hash;

    public JobToken(string token)
    {
        // Comparing hashes keeps the comparison constant-time in the length of the presented value too.
        _hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
    }

    /// <summary>True if <paramref name="authorization"/> is <c>Bearer &lt;token&gt;</c> with the job's token.</summary>
    public bool Matches(string? authorization)
    {
        if (authorization is null || !authorization.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(authorization[BearerPrefix.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(presented, _hash);
    }
}
