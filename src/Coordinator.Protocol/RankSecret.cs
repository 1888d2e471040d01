using System.Security.Cryptography;
using System.Text;

namespace Adan.Coordinator.Protocol;

/// <summary>
/// A rank's proof of identity: 32 random bytes the rank generates once per process, whose SHA-256 it sends at Join and
/// which it sends itself with every later call that names its rank.
/// </summary>
/// <remarks>
/// Host and pid identify nothing (Status discloses them to every holder of the job's token); the secret never leaves
/// the rank's process except to the coordinator, which keeps only its hash. A rank that restarts is a new process with
/// a new secret and joins a new attempt (a new job), as elastic restart does.
/// </remarks>
public static class RankSecret
{
    /// <summary>A new secret: 32 random bytes as 64 lowercase hex digits.</summary>
    public static string New() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    /// <summary>SHA-256 of <paramref name="secret"/>'s UTF-8 bytes, as 64 lowercase hex digits.</summary>
    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>Whether <paramref name="value"/> has the form of a secret or of its hash: 64 lowercase hex digits.</summary>
    public static bool IsWellFormed(string value) =>
        value.Length == 64 && value.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    /// <summary>Whether <paramref name="secret"/> hashes to <paramref name="hash"/>, compared in constant time.</summary>
    public static bool Matches(string secret, string hash) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(secret)), Convert.FromHexString(hash));
}
