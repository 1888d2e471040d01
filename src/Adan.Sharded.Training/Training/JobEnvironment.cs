using Adan.Coordinator.Client;
using Adan.Coordinator.Protocol;

namespace Adan.Sharded.Training;

/// <summary>
/// The coordinator connection <c>adan launch</c> hands each rank in its environment (<c>ADAN_COORDINATOR</c>,
/// <c>ADAN_JOB_TOKEN</c>, <c>ADAN_JOB_ID</c>), read in one place for the rank's <see cref="JobLink"/> and its
/// <see cref="RankAbort"/>.
/// </summary>
internal static class JobEnvironment
{
    /// <summary>
    /// How many times <c>adan launch --max-restarts</c> restarted the job before this attempt; the run summary reports
    /// it as <c>restarts</c>.
    /// </summary>
    public const string RestartsVariable = "ADAN_RESTARTS";

    /// <summary>The restarts before this attempt (0 when the variable is absent or not a count).</summary>
    public static int Restarts =>
        int.TryParse(Environment.GetEnvironmentVariable(RestartsVariable), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 0;

    // One per process: the rank's link and its failure report (RankAbort's own client) must prove the same rank, and a
    // restarted process is a new member of a new attempt with a secret of its own.
    private static readonly string s_rankSecret = RankSecret.New();

    /// <summary>Whether the environment names a coordinator.</summary>
    public static bool HasCoordinator => !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(CoordinatorEnvironment.AddressVariable));

    /// <summary>The client options of rank <paramref name="rank"/> of <paramref name="worldSize"/>, or null when no coordinator is named.</summary>
    /// <exception cref="ArgumentException">The address is set but the token or the job id is not, or it is not an http(s) URL.</exception>
    public static CoordinatorClientOptions? ClientOptions(int rank, int worldSize)
    {
        var address = Environment.GetEnvironmentVariable(CoordinatorEnvironment.AddressVariable);
        if (string.IsNullOrWhiteSpace(address))
        {
            return null;
        }
        var token = Environment.GetEnvironmentVariable(CoordinatorEnvironment.TokenVariable);
        var job = Environment.GetEnvironmentVariable(CoordinatorEnvironment.JobVariable);
        if (string.IsNullOrWhiteSpace(token) || string.IsNullOrWhiteSpace(job))
        {
            throw new ArgumentException($"{CoordinatorEnvironment.AddressVariable} is set but {CoordinatorEnvironment.TokenVariable} or {CoordinatorEnvironment.JobVariable} is not; set all three or none.");
        }
        if (!Uri.TryCreate(address, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"{CoordinatorEnvironment.AddressVariable}='{address}' is not an http:// or https:// URL");
        }
        if (url.Scheme == Uri.UriSchemeHttp && !url.IsLoopback && Environment.GetEnvironmentVariable(CoordinatorEnvironment.InsecureVariable) != "1")
        {
            // As adan launch refuses it: the job's token would cross the network in clear text.
            throw new ArgumentException(
                $"{CoordinatorEnvironment.AddressVariable}='{address}' is plaintext to another host, which would send the job's token in clear text; " +
                $"use https://, or launch with --insecure (which sets {CoordinatorEnvironment.InsecureVariable}=1)");
        }
        return new CoordinatorClientOptions
        {
            Address = url,
            Token = token,
            JobId = job,
            Rank = rank,
            WorldSize = worldSize,
            RankSecret = s_rankSecret,
            TrustedCaFile = Environment.GetEnvironmentVariable(CoordinatorEnvironment.TlsCaVariable) is { Length: > 0 } ca ? ca : null,
        };
    }
}
