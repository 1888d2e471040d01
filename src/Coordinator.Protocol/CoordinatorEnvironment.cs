namespace Adan.Coordinator.Protocol;

/// <summary>
/// Names of the environment variables that carry a job's coordinator connection from the launcher to its ranks and to
/// the coordinator process. Defined here, in the one project the server, the client and the worker all reference, so
/// the three can never disagree on a name.
/// </summary>
public static class CoordinatorEnvironment
{
    /// <summary>The coordinator's address, e.g. <c>http://127.0.0.1:50051</c>.</summary>
    public const string AddressVariable = "ADAN_COORDINATOR";

    /// <summary>
    /// A token. For a rank it is its job's own token (which <c>adan launch</c> obtained from the coordinator); for
    /// <c>adan coordinator</c> and <c>adan launch --coordinator</c> it is the coordinator's operator token. It travels in
    /// the environment, never on a command line, where other users' <c>ps</c> would show it.
    /// </summary>
    public const string TokenVariable = "ADAN_JOB_TOKEN";

    /// <summary>PEM file of the CA certificate(s) a rank trusts for an <c>https://</c> coordinator; unset trusts the system store.</summary>
    public const string TlsCaVariable = "ADAN_TLS_CA";

    /// <summary>
    /// <c>1</c> when <c>adan launch</c> was given <c>--insecure</c>: only then does a rank accept an <c>http://</c>
    /// coordinator on another host, where its token would cross the network in clear text.
    /// </summary>
    public const string InsecureVariable = "ADAN_INSECURE";

    /// <summary>The job id the ranks join.</summary>
    public const string JobVariable = "ADAN_JOB_ID";
}
