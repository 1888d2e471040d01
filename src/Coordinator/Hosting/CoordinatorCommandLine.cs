using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using Adan.Coordinator.Protocol;
using Adan.Sharded.IO;
using Microsoft.Extensions.Logging;

namespace Adan.Coordinator.Hosting;

/// <summary>
/// The coordinator's command line, shared by <c>Adan.Coordinator</c> and <c>adan coordinator</c> (which runs this
/// executable with the same arguments), so both accept the same flags.
/// </summary>
/// <remarks>
/// Options are typed and validated by the parser, so a bad value is reported with the flag, the value and the valid
/// range before anything starts.
/// </remarks>
public static class CoordinatorCommandLine
{
    /// <summary>Exit code for a bad flag, as for other Unix tools.</summary>
    public const int UsageExitCode = 2;

    /// <summary>Exit code when the coordinator could not start (port taken, unreadable data directory...).</summary>
    public const int StartFailureExitCode = 1;

    /// <summary>Environment variable holding the password of a PKCS#12 <c>--tls-cert</c>, kept off the command line.</summary>
    public const string TlsPfxPasswordVariable = "ADAN_TLS_PFX_PASSWORD";

    /// <summary>Adds the coordinator's options and action to <paramref name="command"/>.</summary>
    public static void Configure(Command command)
    {
        var listen = new Option<ListenAddress>("--listen")
        {
            Description = "HOST:PORT to listen on (port 0 picks a free port)",
            DefaultValueFactory = _ => new ListenAddress("127.0.0.1", 50051),
            CustomParser = ParseListenAddress,
        };
        var tokenFile = new Option<FileInfo?>("--token-file") { Description = $"File holding the job token (default: ${CoordinatorEnvironment.TokenVariable})" };
        var credentialsFile = new Option<FileInfo?>("--credentials-file")
        {
            Description = "Submitter credentials, one NAME:sha256:HEX[:EXPIRY] per line (make them with 'hash-credential NAME'): each creates jobs and acts on its own; re-read on change and on SIGHUP",
        };
        var dataDir = new Option<DirectoryInfo>("--data-dir") { Description = "Directory of the coordinator's SQLite catalogue", Required = true };
        var timeout = new Option<double>("--heartbeat-timeout")
        {
            Description = $"Seconds of silence after which a rank fails its job, in (0, {HeartbeatTimeout.MaxSeconds}]",
            DefaultValueFactory = _ => HeartbeatTimeout.DefaultSeconds,
        };
        var checkpointRoot = new Option<DirectoryInfo[]>("--checkpoint-root")
        {
            Description = "A directory clients may have checkpoints written under (repeatable; the first is the default root, else DATA_DIR/checkpoints); any other is refused",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var jobTtl = new Option<double>("--job-ttl")
        {
            Description = "Seconds an ended job (and its token) is kept before it is forgotten, in (0, 2592000]",
            DefaultValueFactory = _ => 3600,
        };
        var maxWatchStreams = new Option<int?>("--max-watch-streams") { Description = $"Concurrent Watch streams per job (default: world size + {CoordinatorLimits.ExtraWatchStreams})" };
        var insecure = new Option<bool>("--insecure") { Description = "Allow plaintext on a non-loopback --listen address (tokens cross the network in clear text)" };
        var stall = new Option<double?>("--stall-timeout")
        {
            Description = $"Seconds a running rank may make no progress (steps, saves, evaluations) before its job fails (default: {JobTimeouts.AdaptiveStallFactor}x the longest interval between progress marks seen, at least {JobTimeouts.MinimumAdaptiveStallSeconds} s)",
        };
        var join = new Option<double>("--join-timeout")
        {
            Description = "Seconds a job may wait for its last rank to join before it fails",
            DefaultValueFactory = _ => JobTimeouts.DefaultJoinSeconds,
        };
        var keepLast = new Option<int>("--keep-last") { Description = "Committed checkpoints kept per job; 0 keeps all", DefaultValueFactory = _ => 3 };
        var tlsCert = new Option<FileInfo?>("--tls-cert") { Description = "PEM certificate (with --tls-key) or PKCS#12 file: serve TLS instead of h2c" };
        var tlsKey = new Option<FileInfo?>("--tls-key") { Description = "PEM private key of --tls-cert" };
        var verbose = new Option<bool>("--verbose") { Description = "Log every membership change to stderr" };
        var stdinEof = new Option<bool>("--stop-on-stdin-eof")
        {
            Description = "Shut down when standard input closes; a launcher holds the pipe, so the coordinator never outlives it, even when it is killed",
        };

        timeout.CustomParser = result => ParseNumber<double>(result, timeout, NumberStyles.Float, HeartbeatTimeout.Rule);
        timeout.Validators.Add(result => Check(result, timeout, HeartbeatTimeout.IsValid, HeartbeatTimeout.Rule));
        const string ttlRule = "expected a number of seconds > 0, at most 2592000 = 30 days";
        jobTtl.CustomParser = result => ParseNumber<double>(result, jobTtl, NumberStyles.Float, ttlRule);
        jobTtl.Validators.Add(result => Check(result, jobTtl, t => double.IsFinite(t) && t > 0 && t <= CoordinatorOptions.MaxJobTtl.TotalSeconds, ttlRule));
        const string streamsRule = "expected an integer >= 1";
        maxWatchStreams.CustomParser = result => ParseNumber<int>(result, maxWatchStreams, NumberStyles.Integer, streamsRule);
        maxWatchStreams.Validators.Add(result => Check(result, maxWatchStreams, n => n is null or >= 1, streamsRule));
        stall.CustomParser = result => ParseNumber<double>(result, stall, NumberStyles.Float, JobTimeouts.Rule);
        stall.Validators.Add(result => Check(result, stall, value => value is { } seconds && JobTimeouts.IsValid(seconds), JobTimeouts.Rule));
        join.CustomParser = result => ParseNumber<double>(result, join, NumberStyles.Float, JobTimeouts.Rule);
        join.Validators.Add(result => Check(result, join, JobTimeouts.IsValid, JobTimeouts.Rule));
        const string count = "expected an integer >= 0; 0 keeps all";
        keepLast.CustomParser = result => ParseNumber<int>(result, keepLast, NumberStyles.Integer, count);
        keepLast.Validators.Add(result => Check(result, keepLast, k => k >= 0, count));
        foreach (var file in new[] { tokenFile, credentialsFile, tlsCert, tlsKey })
        {
            file.Validators.Add(result => Check(result, file, info => info is null || info.Exists, "the file does not exist"));
        }

        foreach (var option in new Option[] { listen, tokenFile, credentialsFile, dataDir, timeout, stall, join, checkpointRoot, keepLast, jobTtl, maxWatchStreams, tlsCert, tlsKey, insecure, verbose, stdinEof })
        {
            command.Options.Add(option);
        }
        command.Action = new RunAction(parse => new CoordinatorOptions
        {
            Listen = parse.GetValue(listen)!,
            Token = ReadToken(parse.GetValue(tokenFile)),
            CredentialsFile = parse.GetValue(credentialsFile)?.FullName,
            DataDirectory = parse.GetValue(dataDir)!.FullName,
            HeartbeatTimeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
            CheckpointRoots = [.. (parse.GetValue(checkpointRoot) ?? []).Select(d => d.FullName)],
            StallTimeout = parse.GetValue(stall) is { } stallSeconds ? TimeSpan.FromSeconds(stallSeconds) : null,
            JoinTimeout = TimeSpan.FromSeconds(parse.GetValue(join)),
            KeepLast = parse.GetValue(keepLast),
            JobTtl = TimeSpan.FromSeconds(parse.GetValue(jobTtl)),
            MaxWatchStreamsPerJob = parse.GetValue(maxWatchStreams),
            Insecure = parse.GetValue(insecure),
            TlsCertificateFile = parse.GetValue(tlsCert)?.FullName,
            TlsKeyFile = parse.GetValue(tlsKey)?.FullName,
            TlsPfxPassword = Environment.GetEnvironmentVariable(TlsPfxPasswordVariable),
            MinimumLogLevel = parse.GetValue(verbose) ? LogLevel.Information : LogLevel.Warning,
            StopOnStandardInputEof = parse.GetValue(stdinEof),
        });
    }

    /// <summary>
    /// Runs the coordinator in the foreground until Ctrl+C or SIGTERM (or, with
    /// <see cref="CoordinatorOptions.StopOnStandardInputEof"/>, until standard input closes).
    /// </summary>
    /// <returns>The process exit code.</returns>
    public static async Task<int> RunAsync(CoordinatorOptions options, TextWriter output, TextWriter error)
    {
        try
        {
            await using var host = new CoordinatorHost(options);
            var address = await host.StartAsync();
            if (options.ServesPlaintextOffLoopback)
            {
                error.WriteLine($"adan coordinator: warning: serving plaintext on {options.Listen} (--insecure): tokens cross the network in clear text");
            }
            // The one stdout line launchers and tests wait for: only printed once calls are accepted.
            output.WriteLine($"listening on {address.GetLeftPart(UriPartial.Authority)}");
            output.Flush();
            if (options.StopOnStandardInputEof)
            {
                _ = StopAtEndOfInputAsync(host);
            }
            await host.WaitForShutdownAsync();
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException
            or Microsoft.Data.Sqlite.SqliteException or InvalidOperationException or FormatException)
        {
            error.WriteLine($"adan coordinator: cannot start: {e.Message}");
            return StartFailureExitCode;
        }
    }

    /// <summary>Reads standard input to its end (nothing is expected on it), then stops the host.</summary>
    private static async Task StopAtEndOfInputAsync(CoordinatorHost host)
    {
        await using var input = Console.OpenStandardInput();
        await input.CopyToAsync(Stream.Null);
        await host.StopAsync();
    }

    /// <summary>
    /// Parses a number in the invariant culture, so that a value that is no number gets the same message as one out of
    /// range rather than the parser's, which names a CLR type.
    /// </summary>
    private static T ParseNumber<T>(ArgumentResult result, Option option, NumberStyles styles, string rule) where T : struct, INumberBase<T>
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (T.TryParse(text, styles, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }
        result.AddError(InvalidValue(option, text, rule));
        return default;
    }

    /// <summary>Adds the invalid-value message when the given value breaks <paramref name="valid"/>; a default is valid by construction.</summary>
    private static void Check<T>(OptionResult result, Option<T> option, Func<T, bool> valid, string rule)
    {
        if (result.Implicit || result.Tokens.Count == 0)
        {
            return;
        }
        T value;
        try
        {
            value = result.GetValueOrDefault<T>();
        }
        catch (InvalidOperationException)
        {
            // Not a T: the parser already reported it.
            return;
        }
        if (!valid(value))
        {
            result.AddError(InvalidValue(option, result.Tokens[^1].Value, rule));
        }
    }

    private static string InvalidValue(Option option, string text, string rule) => $"{option.Name}: invalid value '{text}' ({rule})";

    private static ListenAddress? ParseListenAddress(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        try
        {
            return ListenAddress.Parse(text);
        }
        catch (FormatException e)
        {
            result.AddError($"--listen: {e.Message}");
            return null;
        }
    }

    private static string ReadToken(FileInfo? tokenFile)
    {
        if (tokenFile is not null)
        {
            // Refused when others can read it, as adan launch does: whoever reads the operator token can create jobs.
            return SecretFile.TryRead(tokenFile.FullName, out var secret, out var problem)
                ? secret
                : throw new UsageException($"--token-file {tokenFile.FullName}: {problem}");
        }
        var token = Environment.GetEnvironmentVariable(CoordinatorEnvironment.TokenVariable)?.Trim();
        return string.IsNullOrEmpty(token)
            ? throw new UsageException($"no job token: give --token-file FILE or set {CoordinatorEnvironment.TokenVariable}")
            : token;
    }

    /// <summary>A flag error found after parsing: reported as one line on stderr with exit code 2.</summary>
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
            catch (Exception e) when (e is UsageException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                // The message names the flag already; the parameter name ArgumentException appends is the C# one.
                var message = e is ArgumentException { ParamName: { } parameter } ? e.Message.Replace($" (Parameter '{parameter}')", "") : e.Message;
                error.WriteLine($"{name}: {message}");
                return UsageExitCode;
            }
            return RunAsync(options, parseResult.InvocationConfiguration.Output, error).GetAwaiter().GetResult();
        }
    }
}
