using Adan.Sharded.Training.Processes;
using System.Diagnostics;
using System.Text;
using Adan.Coordinator.Protocol;
using Adan.Worker.Processes;

namespace Adan.Worker.Launch;

/// <summary>
/// The coordinator server as a child process. The worker never links the server (an ASP.NET Core application): the
/// build ships its executable in <c>coordinator/</c> beside <c>adan</c>, and <c>adan launch</c> and
/// <c>adan coordinator</c> start it.
/// </summary>
/// <remarks>
/// A separate process also isolates the control plane from the launcher: the launcher can watch, signal and outlive
/// it. The token travels in the environment (<c>ADAN_JOB_TOKEN</c>), never on the command line, where other users'
/// <c>ps</c> would show it.
/// </remarks>
internal sealed class CoordinatorProcess : IAsyncDisposable
{
    /// <summary>Overrides where the coordinator executable is found (its apphost or its <c>.dll</c>).</summary>
    public const string ExecutableVariable = "ADAN_COORDINATOR_EXECUTABLE";

    private const string ListeningPrefix = "listening on ";

    private readonly Process _process;

    private CoordinatorProcess(Process process, Uri address)
    {
        _process = process;
        Address = address;
    }

    /// <summary>Where clients reach the coordinator, with the real port.</summary>
    public Uri Address { get; }

    /// <summary>The coordinator's process id.</summary>
    public int Pid => _process.Id;

    /// <summary>
    /// The start command for the coordinator: its apphost, or <c>dotnet</c> with its assembly.
    /// </summary>
    /// <exception cref="FileNotFoundException">Neither the override nor the shipped copy exists.</exception>
    public static ProcessStartInfo StartInfo(IEnumerable<string> arguments)
    {
        var path = Environment.GetEnvironmentVariable(ExecutableVariable) is { Length: > 0 } overridden
            ? Path.GetFullPath(overridden)
            : Path.Combine(AppContext.BaseDirectory, "coordinator", "Adan.Coordinator");
        ProcessStartInfo info;
        if (path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) && File.Exists(path))
        {
            info = new ProcessStartInfo("dotnet") { ArgumentList = { path } };
        }
        else if (File.Exists(path))
        {
            info = new ProcessStartInfo(path);
        }
        else if (File.Exists(path + ".dll"))
        {
            info = new ProcessStartInfo("dotnet") { ArgumentList = { path + ".dll" } };
        }
        else
        {
            throw new FileNotFoundException(
                $"the coordinator executable {path} does not exist; rebuild with `make build` (it ships in coordinator/ beside adan) or set {ExecutableVariable}.", path);
        }
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        info.UseShellExecute = false;
        return info;
    }

    /// <summary>Starts a coordinator and waits until it accepts calls.</summary>
    /// <param name="arguments">The coordinator's flags (<c>--listen</c>, <c>--data-dir</c>, ...).</param>
    /// <param name="token">The job token, passed in the environment.</param>
    /// <param name="startTimeout">How long to wait for the coordinator's <c>listening on</c> line.</param>
    /// <param name="stop">Cancelled by a stop signal: the starting coordinator is killed and reaped before this throws.</param>
    /// <exception cref="CoordinatorStartException">It exited or stayed silent; the message holds its stderr.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="stop"/> was cancelled; no coordinator runs.</exception>
    public static async Task<CoordinatorProcess> StartAsync(IEnumerable<string> arguments, string token, TimeSpan startTimeout, CancellationToken stop)
    {
        var info = StartInfo(arguments);
        // The pipe on its standard input is held by this process only: when we exit, however we exit, it closes and
        // the coordinator (started with --stop-on-stdin-eof) stops.
        info.RedirectStandardInput = true;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.Environment[CoordinatorEnvironment.TokenVariable] = token;
        var process = Process.Start(info) ?? throw new CoordinatorStartException(1, $"could not start {info.FileName}");
        // Until it listens, its stderr is the reason it could not start and goes into the exception; afterwards its
        // warnings (a rank that went silent, a failed deletion) pass through to ours.
        var errors = new StringBuilder();
        var listening = false;
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (errors)
            {
                if (!listening)
                {
                    errors.AppendLine(e.Data);
                    return;
                }
            }
            Console.Error.WriteLine(e.Data);
        };
        process.BeginErrorReadLine();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
            timeout.CancelAfter(startTimeout);
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line.StartsWith(ListeningPrefix, StringComparison.Ordinal))
                {
                    var address = new Uri(line[ListeningPrefix.Length..].Trim());
                    lock (errors)
                    {
                        listening = true;
                    }
                    // The coordinator prints nothing else on stdout; keep draining so it can never block on a full pipe.
                    _ = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
                    return new CoordinatorProcess(process, address);
                }
            }
            await process.WaitForExitAsync(CancellationToken.None);
            string message;
            lock (errors)
            {
                message = errors.ToString().Trim();
            }
            throw new CoordinatorStartException(process.ExitCode, message.Length > 0 ? message : $"the coordinator exited with code {process.ExitCode} before listening");
        }
        catch (OperationCanceledException)
        {
            // Reaped before the caller removes its data directory, which a live coordinator could still write into.
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            process.Dispose();
            stop.ThrowIfCancellationRequested();
            throw new CoordinatorStartException(1, $"the coordinator did not start listening within {startTimeout.TotalSeconds:F0} s");
        }
        catch (CoordinatorStartException)
        {
            process.Dispose();
            throw;
        }
    }

    /// <summary>Stops the coordinator: SIGTERM (a graceful shutdown), then a kill after a grace period.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Signal.Terminate(_process.Id);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        _process.Dispose();
    }
}

/// <summary>The coordinator process could not start; <see cref="ExitCode"/> is its own (2 for a usage error).</summary>
internal sealed class CoordinatorStartException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
