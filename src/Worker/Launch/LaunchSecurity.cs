using System.CommandLine;
using Adan.Coordinator.Client;
using Adan.Coordinator.Protocol;
using Adan.Worker.Commands;
using Adan.Sharded.Training.Config;
using Grpc.Core;
using Grpc.Net.Client;

namespace Adan.Worker.Launch;

/// <summary>
/// The security side of <c>adan launch</c>: TLS for the coordinator it starts (<c>--tls-cert/--tls-key</c>) and trust
/// for the one its ranks reach (<c>--tls-ca</c>), the name the ranks reach it by (<c>--advertise</c>), <c>--insecure</c>, the checkpoint roots its coordinator may write
/// under, and the creation of the job, whose own token is all the ranks get.
/// </summary>
internal sealed class LaunchSecurity
{
    private readonly Option<FileInfo?> _tlsCert = new("--tls-cert") { Description = "PEM certificate for the coordinator launch starts (with --tls-key): serve TLS" };
    private readonly Option<FileInfo?> _tlsKey = new("--tls-key") { Description = "PEM private key of --tls-cert" };
    private readonly Option<FileInfo?> _tlsCa = new("--tls-ca") { Description = "PEM CA certificate the launcher and ranks trust for an https:// coordinator (default: the system store)" };
    private readonly Option<AdvertisedHost?> _advertise = new("--advertise")
    {
        Description = "DNS name or address the ranks reach the launched coordinator by, with its bound port (default: the bound address); the name its TLS certificate must have",
        CustomParser = ParseAdvertise,
    };
    private readonly Option<bool> _insecure = new("--insecure") { Description = "Allow plaintext on a non-loopback address (tokens cross the network in clear text)" };
    private readonly Option<DirectoryInfo[]> _checkpointRoots = new("--checkpoint-root")
    {
        Description = "A directory the launched coordinator may write checkpoints under (repeatable; default: the train command's checkpoint directory)",
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _tlsCert, _tlsKey, _tlsCa, _advertise, _insecure, _checkpointRoots })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>The values given, checked: files exist, the key has its certificate.</summary>
    /// <exception cref="UsageException">A file is missing or --tls-key lacks --tls-cert.</exception>
    public Settings Bind(ParseResult result)
    {
        var settings = new Settings(result.GetValue(_tlsCert), result.GetValue(_tlsKey), result.GetValue(_tlsCa), result.GetValue(_advertise), result.GetValue(_insecure),
            [.. (result.GetValue(_checkpointRoots) ?? []).Select(d => d.FullName)]);
        foreach (var (flag, file) in new[] { ("--tls-cert", settings.TlsCert), ("--tls-key", settings.TlsKey), ("--tls-ca", settings.TlsCa) })
        {
            if (file is { Exists: false })
            {
                throw new UsageException($"{flag} {file.FullName}: no such file");
            }
        }
        if ((settings.TlsCert is null) != (settings.TlsKey is null))
        {
            throw new UsageException("--tls-cert and --tls-key go together: give the PEM certificate and its private key");
        }
        if (settings.TlsCa is not null)
        {
            try
            {
                _ = CoordinatorChannel.LoadAuthorities(settings.TlsCa.FullName);
            }
            catch (ArgumentException e)
            {
                throw new UsageException(e.Message);
            }
        }
        return settings;
    }

    private static AdvertisedHost? ParseAdvertise(System.CommandLine.Parsing.ArgumentResult result)
    {
        var host = AdvertisedHost.Parse(result.Tokens.Count == 1 ? result.Tokens[0].Value : "", out var error);
        if (error is not null)
        {
            result.AddError(error);
        }
        return host;
    }

    /// <summary>What <c>adan launch</c> was given.</summary>
    public sealed record Settings(FileInfo? TlsCert, FileInfo? TlsKey, FileInfo? TlsCa, AdvertisedHost? Advertise, bool Insecure, IReadOnlyList<string> CheckpointRoots)
    {
        /// <summary>The flags for the coordinator launch starts: TLS, --insecure and where it may write checkpoints.</summary>
        /// <param name="command">The job's command (<c>train ...</c>), whose checkpoint directory is the default root.</param>
        /// <param name="program">Whether <paramref name="command"/> is a program's arguments (<c>--program</c>).</param>
        public IEnumerable<string> CoordinatorArguments(string[] command, bool program = false)
        {
            if (TlsCert is not null && TlsKey is not null)
            {
                yield return "--tls-cert";
                yield return TlsCert.FullName;
                yield return "--tls-key";
                yield return TlsKey.FullName;
            }
            if (Insecure)
            {
                yield return "--insecure";
            }
            foreach (var root in CheckpointRoots.Count > 0 ? CheckpointRoots : [DefaultCheckpointRoot(command, program)])
            {
                yield return "--checkpoint-root";
                yield return root;
            }
        }

        /// <summary>
        /// The address the launcher and the ranks use for the coordinator launch started, which bound
        /// <paramref name="bound"/>: the <c>--advertise</c> host with the bound port, or the bound address. With TLS, the
        /// certificate must name its host.
        /// </summary>
        /// <exception cref="UsageException">The certificate of --tls-cert does not name that host.</exception>
        public Uri AddressOfLaunched(Uri bound)
        {
            var address = Advertise?.For(bound) ?? bound;
            if (TlsCert is not null)
            {
                AdvertisedHost.CheckCertificateNames(TlsCert, address);
            }
            return address;
        }

        /// <summary>
        /// Checks the flags for a standing coordinator (<c>--coordinator URL</c>): <c>--advertise</c> has nothing to
        /// name, and an <c>http://</c> coordinator off this machine is refused unless <c>--insecure</c> was given: the
        /// operator token and the job's would cross the network in clear text.
        /// </summary>
        /// <exception cref="UsageException">--advertise was given, or plaintext to another host without --insecure.</exception>
        public void CheckStanding(Uri coordinator)
        {
            if (Advertise is not null)
            {
                throw new UsageException(
                    $"--advertise {Advertise.Host} names the coordinator launch starts; with --coordinator the ranks use {coordinator.GetLeftPart(UriPartial.Authority)} as given");
            }
            if (coordinator.Scheme == Uri.UriSchemeHttp && !coordinator.IsLoopback && !Insecure)
            {
                throw new UsageException(
                    $"--coordinator {coordinator}: plaintext to another host would send the tokens in clear text; use https:// (with --tls-ca FILE for a private CA) or accept the risk with --insecure");
            }
        }

        /// <summary>Prints the one warning <c>--insecure</c> costs when it is used.</summary>
        public void WarnIfPlaintextOffLoopback(Uri coordinator)
        {
            if (coordinator.Scheme == Uri.UriSchemeHttp && !coordinator.IsLoopback)
            {
                Console.Error.WriteLine($"adan launch: warning: plaintext to {coordinator.GetLeftPart(UriPartial.Authority)} (--insecure): tokens cross the network in clear text");
            }
        }

        /// <summary>
        /// Creates the job with a submitter credential or the operator token and returns the job's own token, turning every refusal into one line
        /// that names the coordinator and the fix.
        /// </summary>
        /// <exception cref="IOException">The coordinator is unreachable or refused the job.</exception>
        public async Task<string> CreateJobAsync(Uri coordinator, string credential, string jobId, int ranks, int restarts = 0)
        {
            using var channel = CoordinatorChannel.Create(coordinator, TlsCa?.FullName);
            try
            {
                return await CoordinatorClient.CreateJobAsync(channel, credential, jobId, ranks, CreateJobDeadline, restarts);
            }
            catch (RpcException e)
            {
                var url = coordinator.GetLeftPart(UriPartial.Authority);
                throw new IOException(e.StatusCode switch
                {
                    StatusCode.Unauthenticated or StatusCode.PermissionDenied =>
                        $"the coordinator at {url} refused the token in {CoordinatorEnvironment.TokenVariable} ({e.Status.Detail}); give the submitter credential its operator issued you (--token-file FILE), or its operator token",
                    StatusCode.AlreadyExists => $"the coordinator at {url} already has job '{jobId}'; choose another --job-id",
                    StatusCode.InvalidArgument => $"the coordinator at {url} refused job '{jobId}': {e.Status.Detail}",
                    _ => $"cannot reach the coordinator at {url}: {Describe(e)}" + (coordinator.Scheme != Uri.UriSchemeHttps ? ""
                        : TlsCa is null ? " (for a private CA give --tls-ca FILE)"
                        : $" (its certificate must be issued by --tls-ca {TlsCa.FullName} and name {coordinator.Host})"),
                }, e);
            }
        }

        /// <summary>
        /// How long the job's creation may take. The coordinator launch started is listening already, but its first call
        /// (JIT, the job store) was seen to take over 15 s on two busy cores; an unreachable one fails at once anyway.
        /// </summary>
        private static readonly TimeSpan CreateJobDeadline = TimeSpan.FromSeconds(60);

        /// <summary>Why a call failed, never empty: gRPC leaves the detail of a client-side deadline empty.</summary>
        private static string Describe(RpcException e) =>
            e.Status.DebugException?.InnerException?.Message ?? e.Status.DebugException?.Message
            ?? (e.StatusCode == StatusCode.DeadlineExceeded ? $"no answer within {CreateJobDeadline.TotalSeconds:0} s"
                : string.IsNullOrEmpty(e.Status.Detail) ? e.StatusCode.ToString() : e.Status.Detail);

        /// <summary>The checkpoint directory of a <c>train</c> command, as its ranks will resolve it; the working directory otherwise.</summary>
        private static string DefaultCheckpointRoot(string[] command, bool program) =>
            LaunchedTrainConfig.TryRead(command, program) is { } config ? Path.GetFullPath(config.ResolvedCheckpointDir) : Directory.GetCurrentDirectory();
    }
}
