using System.CommandLine;
using System.Globalization;
using Adan.Coordinator.Auth;
using Adan.Coordinator.Domain;

namespace Adan.Coordinator.Hosting;

/// <summary>
/// The operator's commands beside the server, run on the coordinator's host: <c>hash-credential</c> issues a submitter
/// credential, <c>roots</c> lists who owns which checkpoint root, <c>transfer-root</c> hands one over.
/// </summary>
/// <remarks>
/// The root commands work on the data directory itself rather than over gRPC: whoever can write the coordinator's
/// database is its operator already, so they need no token, and they work with the coordinator running or stopped
/// (ownership is read from the database at every Begin and Commit, never cached).
/// </remarks>
public static class OperatorCommands
{
    /// <summary>The command names, which <c>Program</c> dispatches here before the server's own parsing.</summary>
    public static readonly IReadOnlySet<string> Names = new HashSet<string>(StringComparer.Ordinal) { "hash-credential", "roots", "transfer-root" };

    /// <summary>Runs the operator command <paramref name="args"/>[0] with the rest of <paramref name="args"/>.</summary>
    /// <returns>0 on success, 1 when the command failed, 2 for a usage error.</returns>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var root = new RootCommand("adan coordinator operator commands");
        root.Subcommands.Add(HashCredential(output, error));
        root.Subcommands.Add(Roots(output, error));
        root.Subcommands.Add(TransferRoot(output, error));
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            error.WriteLine($"adan coordinator {args[0]}: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
            return CoordinatorCommandLine.UsageExitCode;
        }
        return parse.Invoke(new InvocationConfiguration { Output = output, Error = error });
    }

    private static Command HashCredential(TextWriter output, TextWriter error)
    {
        var name = new Argument<string>("name") { Description = "The credential's name: a user or a team; it owns their jobs and checkpoint roots" };
        var secretFile = new Option<FileInfo>("--secret-file")
        {
            Description = "Where to write the new secret (created, mode 0600; it must not exist): the submitter's adan launch --token-file",
            Required = true,
        };
        var expires = new Option<string?>("--expires") { Description = "When the credential stops working: an ISO-8601 date or UTC time (default: never)" };
        var command = new Command("hash-credential", "Make a submitter credential: write a fresh secret to --secret-file and print the line for --credentials-file")
        {
            name, secretFile, expires,
        };
        command.SetAction(parse =>
        {
            var credential = parse.GetValue(name)!;
            if (!CredentialsFile.IsValidName(credential))
            {
                return Usage(error, "hash-credential", $"invalid credential name '{credential}' ({CredentialsFile.NameRule})");
            }
            DateTimeOffset? expiry = null;
            if (parse.GetValue(expires) is { } text)
            {
                expiry = CredentialsFile.ParseExpiry(text);
                if (expiry is null)
                {
                    return Usage(error, "hash-credential", $"--expires: invalid value '{text}' (an ISO-8601 date or UTC time, e.g. 2027-06-30 or 2027-06-30T12:00:00Z)");
                }
            }
            var file = parse.GetValue(secretFile)!;
            var secret = CredentialsFile.NewSecret();
            try
            {
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }
                using var stream = new FileStream(file.FullName, options);
                using var writer = new StreamWriter(stream);
                writer.WriteLine(secret);
            }
            catch (IOException e)
            {
                return Usage(error, "hash-credential", $"--secret-file {file.FullName}: {e.Message} (give a path that does not exist yet)");
            }
            output.WriteLine(CredentialsFile.Line(credential, secret, expiry));
            return 0;
        });
        return command;
    }

    private static Command Roots(TextWriter output, TextWriter error)
    {
        var dataDir = DataDirOption();
        var command = new Command("roots", "List the owned checkpoint roots: root, owner credential, job holding it, owned since") { dataDir };
        command.SetAction(parse => WithStore(parse.GetValue(dataDir)!, error, "roots", (_, owners) =>
        {
            foreach (var root in owners.List())
            {
                output.WriteLine(string.Join('\t', root.Root, root.Owner, root.HolderJob ?? "-",
                    root.Since.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)));
            }
            return 0;
        }));
        return command;
    }

    private static Command TransferRoot(TextWriter output, TextWriter error)
    {
        var dataDir = DataDirOption();
        var root = new Option<string>("--root") { Description = "The checkpoint root to hand over (as its jobs name it)", Required = true };
        var to = new Option<string>("--to") { Description = "The credential that owns it from now on (a name in --credentials-file, or 'operator')", Required = true };
        var command = new Command("transfer-root", "Hand a checkpoint root, with its checkpoints, to another credential; its jobs resume from them") { dataDir, root, to };
        command.SetAction(parse => WithStore(parse.GetValue(dataDir)!, error, "transfer-root", (audit, owners) =>
        {
            var owner = parse.GetValue(to)!;
            if (owner != Caller.OperatorName && !CredentialsFile.IsValidName(owner))
            {
                return Usage(error, "transfer-root", $"--to: invalid credential name '{owner}' ({CredentialsFile.NameRule})");
            }
            var path = PathConfinement.Resolve(Path.GetFullPath(parse.GetValue(root)!));
            var previous = owners.Transfer(path, owner);
            audit.Record(AuditLog.Events.RootTransferred, Caller.OperatorName, ("root", path), ("from", previous), ("to", owner));
            output.WriteLine($"checkpoint root {path}: transferred from '{previous}' to '{owner}'");
            return 0;
        }));
        return command;
    }

    private static Option<DirectoryInfo> DataDirOption() => new("--data-dir") { Description = "The coordinator's --data-dir", Required = true };

    /// <summary>Opens the data directory's store (it must exist: nothing is created for a mistyped path) and runs <paramref name="action"/>.</summary>
    private static int WithStore(DirectoryInfo dataDir, TextWriter error, string command, Func<AuditLog, RootOwnership, int> action)
    {
        if (!File.Exists(Path.Combine(dataDir.FullName, "coordinator.db")))
        {
            return Usage(error, command, $"--data-dir {dataDir.FullName}: no coordinator.db there (give the coordinator's --data-dir)");
        }
        try
        {
            using var store = new CoordinatorStore(dataDir.FullName);
            return action(new AuditLog(dataDir.FullName, TimeProvider.System), new RootOwnership(store, TimeProvider.System));
        }
        catch (CoordinatorException e)
        {
            error.WriteLine($"adan coordinator {command}: {e.Message}");
            return CoordinatorCommandLine.StartFailureExitCode;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException)
        {
            error.WriteLine($"adan coordinator {command}: cannot open {dataDir.FullName}: {e.Message}");
            return CoordinatorCommandLine.StartFailureExitCode;
        }
    }

    private static int Usage(TextWriter error, string command, string message)
    {
        error.WriteLine($"adan coordinator {command}: {message}");
        return CoordinatorCommandLine.UsageExitCode;
    }
}
