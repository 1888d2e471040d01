using System.CommandLine;
using System.CommandLine.Invocation;
using System.Globalization;

namespace Adan.Coordinator.Hosting;

/// <summary>
/// The coordinator's command line, shared by <c>Adan.Coordinator</c> and <c>adan coordinator</c> so both accept the same flags.
/// </summary>
public static class CoordinatorCommandLine
{
    /// <summary>Exit code for a bad flag, as for other Unix tools.</summary>
    public const int UsageExitCode = 2;

    /// <summary>Exit code when the coordinator could not start (port taken, unreadable data directory...).</summary>
    public const int StartFailureExitCode = 1;

    /// <summary>Environment variable holding the job token when no <c>--token-file</c> is given.</summary>
    public const string TokenVariable = "ADAN_JOB_TOKEN";

    /// <summary>Adds the coordinator's options and action to <paramref name="command"/>.</summary>
    public static void Configure(Command command)
    {
        var listen = new Option<string>("--listen") { Description = "HOST:PORT to listen on (port 0 picks a free port)", DefaultValueFactory = _ => "127.0.0.1:50051" };
        var tokenFile = new Option<string?>("--token-file") { Description = $"File holding the job token (default: ${TokenVariable})" };
        var dataDir = new Option<string>("--data-dir") { Description = "Directory of the coordinator's SQLite catalogue", Required = true };
        var timeout = new Option<string>("--heartbeat-timeout") { Description = "Seconds of silence after which a rank fails its job", DefaultValueFactory = _ => "30" };
        var checkpointRoot = new Option<string?>("--checkpoint-root") { Description = "Default checkpoint root (default: DATA_DIR/checkpoints)" };
        var keepLast = new Option<string>("--keep-last") { Description = "Committed checkpoints kept per job; 0 keeps all", DefaultValueFactory = _ => "3" };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "PEM certificate (with --tls-key) or PKCS#12 file: serve TLS instead of h2c" };
        var tlsKey = new Option<string?>("--tls-key") { Description = "PEM private key of --tls-cert" };
        var verbose = new Option<bool>("--verbose") { Description = "Log every membership change to stderr" };
        foreach (var option in new Option[] { listen, tokenFile, dataDir, timeout, checkpointRoot, keepLast, tlsCert, tlsKey, verbose })
        {
            command.Options.Add(option);
        }
        command.Action = new RunAction(parse =>
        {
            var listenAddress = ListenAddress.Parse(parse.GetValue(listen)!);
            var heartbeatTimeout = TimeSpan.FromSeconds(ParsePositive(parse.GetValue(timeout)!, "--heartbeat-timeout"));
            var keep = ParseCount(parse.GetValue(keepLast)!, "--keep-last");
            var tlsCertFile = RequireExistingFile(parse.GetValue(tlsCert), "--tls-cert");
            var tlsKeyFile = RequireExistingFile(parse.GetValue(tlsKey), "--tls-key");
            return new CoordinatorOptions
            {
                Listen = listenAddress,
                Token = ReadToken(parse.GetValue(tokenFile)),
                DataDirectory = Path.GetFullPath(parse.GetValue(dataDir)!),
                HeartbeatTimeout = heartbeatTimeout,
                CheckpointRoot = parse.GetValue(checkpointRoot) is { } root ? Path.GetFullPath(root) : null,
                KeepLast = keep,
                TlsCertificateFile = tlsCertFile,
                TlsKeyFile = tlsKeyFile,
                TlsPfxPassword = Environment.GetEnvironmentVariable("ADAN_TLS_PFX_PASSWORD"),
                MinimumLogLevel = parse.GetValue(verbose) ? Microsoft.Extensions.Logging.LogLevel.Information : Microsoft.Extensions.Logging.LogLevel.Warning,
            };
        });
    }

    /// <summary>Runs the coordinator in the foreground until Ctrl+C or SIGTERM.</summary>
    /// <returns>The process exit code.</returns>
    public static async Task<int> RunAsync(CoordinatorOptions options, TextWriter output, TextWriter error)
    {
        try
        {
            await using var host = new CoordinatorHost(options);
            var address = await host.StartAsync();
            // The one stdout line launchers and tests wait for: only printed once calls are accepted.
            output.WriteLine($"listening on {address.GetLeftPart(UriPartial.Authority)}");
            output.Flush();
            await host.WaitForShutdownAsync();
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException
            or Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
        {
            error.WriteLine($"adan coordinator: cannot start: {e.Message}");
            return StartFailureExitCode;
        }
    }

    private static string ReadToken(string? tokenFile)
    {
        string? token;
        if (tokenFile is not null)
        {
            if (!File.Exists(tokenFile))
            {
                throw new UsageException($"--token-file: '{tokenFile}' does not exist");
            }
            token = File.ReadAllText(tokenFile).Trim();
        }
        else
        {
            token = Environment.GetEnvironmentVariable(TokenVariable)?.Trim();
        }
        return string.IsNullOrEmpty(token)
            ? throw new UsageException($"no job token: give --token-file FILE or set {TokenVariable}")
            : token;
    }

    private static string? RequireExistingFile(string? path, string flag) =>
        path is null || File.Exists(path) ? path : throw new UsageException($"{flag}: '{path}' does not exist");

    private static double ParsePositive(string text, string flag) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0 && double.IsFinite(value)
            ? value
            : throw new UsageException($"{flag}: invalid value '{text}' (expected a number of seconds > 0)");

    private static int ParseCount(string text, string flag) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new UsageException($"{flag}: invalid value '{text}' (expected an integer >= 0)");

    /// <summary>A flag error: reported as one line on stderr with exit code 2.</summary>
    private sealed class UsageException(string message) : Exception(message);

    /// <summary>
    /// Runs even when parsing failed, so that every flag error, System.CommandLine's or ours, becomes one stderr
    /// line and exit code 2 instead of the default help dump and exit code 1.
    /// </summary>
    private sealed class RunAction(Func<ParseResult, CoordinatorOptions> bind) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            var error = parseResult.InvocationConfiguration.Error;
            // One name whether started as Adan.Coordinator or through `adan coordinator`, which runs this executable.
            const string name = "adan coordinator";
            if (parseResult.UnmatchedTokens.Count > 0)
            {
                error.WriteLine($"{name}: unrecognized argument(s): {string.Join(" ", parseResult.UnmatchedTokens)} (see --help)");
                return UsageExitCode;
            }
            if (parseResult.Errors.Count > 0)
            {
                error.WriteLine($"{name}: {string.Join("; ", parseResult.Errors.Select(e => e.Message))}");
                return UsageExitCode;
            }
            CoordinatorOptions options;
            try
            {
                options = bind(parseResult);
                options.Validate();
            }
            catch (Exception e) when (e is UsageException or FormatException or ArgumentException)
            {
                error.WriteLine($"{name}: {e.Message}");
                return UsageExitCode;
            }
            return RunAsync(options, parseResult.InvocationConfiguration.Output, error).GetAwaiter().GetResult();
        }
    }
}
