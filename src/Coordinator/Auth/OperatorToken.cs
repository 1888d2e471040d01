using System.Security.Cryptography;
using System.Text;

namespace Adan.Coordinator.Auth;

/// <summary>The coordinator's operator token (the one it was started with), compared in constant time.</summary>
internal sealed class OperatorToken
{
    private readonly byte[] _hash;

    public OperatorToken(string token)
    {
        // Comparing hashes keeps the comparison constant-time in the length of the presented value too.
        _hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
    }

    /// <summary>True if <paramref name="presented"/> is the operator token.</summary>
    public bool Matches(string presented) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), _hash);
}
