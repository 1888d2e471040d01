using Adan.Coordinator.Protocol;

namespace Adan.Coordinator.Domain;

/// <summary>
/// Checks that a call naming a rank comes from that rank's own process: it carries the secret whose SHA-256 the rank
/// sent at Join (see <see cref="RankSecret"/>). Without it, a holder of the job's token could heartbeat for a dead rank,
/// make an innocent one leave or fail, or rejoin as rank 0 to replace the job's learning-rate schedule.
/// </summary>
internal static class RankProof
{
    /// <summary>Rejects a secret hash that is not 64 lowercase hex digits.</summary>
    /// <exception cref="CoordinatorException">InvalidArgument naming the field and its form.</exception>
    public static void RequireWellFormedHash(string secretHash)
    {
        if (!RankSecret.IsWellFormed(secretHash))
        {
            throw CoordinatorException.InvalidArgument(
                "invalid rank_secret_sha256 (must be the SHA-256 of the rank's secret, 64 lowercase hex digits; a client that sends none predates rank secrets: upgrade adan)");
        }
    }

    /// <summary>Whether <paramref name="secret"/> is <paramref name="member"/>'s (a member stored without a hash has none to match).</summary>
    public static bool Matches(Member member, string? secret) =>
        member.SecretHash is not null && secret is not null && RankSecret.IsWellFormed(secret) && RankSecret.Matches(secret, member.SecretHash);

    /// <summary>
    /// Refuses <paramref name="call"/> unless <paramref name="secret"/> is <paramref name="member"/>'s; the caller holds
    /// the job's lock. A member stored without a hash joined through a coordinator that predates rank secrets and is
    /// taken at its word, so an upgrade does not fail a running job.
    /// </summary>
    /// <exception cref="CoordinatorException">PermissionDenied naming the rank and the call.</exception>
    public static void Require(Job job, Member member, string? secret, string call)
    {
        if (member.SecretHash is null)
        {
            return;
        }
        if (!Matches(member, secret))
        {
            throw CoordinatorException.PermissionDenied(
                $"{call} for rank {member.Rank} of job '{job.JobId}' refused: it does not carry rank {member.Rank}'s secret (only the process that joined as rank {member.Rank} may act for it)");
        }
    }
}
