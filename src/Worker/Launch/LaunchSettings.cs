namespace Adan.Worker.Launch;

/// <summary>The launcher's parsed command line.</summary>
internal sealed record LaunchSettings(int Ranks, FileInfo? Hostfile, Uri? CoordinatorUrl, string Listen, double HeartbeatTimeout,
    double? StallTimeout, double? JoinTimeout, double GraceSeconds, FileInfo? TokenFile, string? JobId, string[] Arguments,
    LaunchSecurity.Settings Security, int MaxRestarts, int? MinRanks, double? PreemptGraceSeconds)
{
    public TimeSpan Grace => TimeSpan.FromSeconds(GraceSeconds);

    /// <summary>The time a preemption save is given; null for <see cref="Launch.PreemptGrace.Measured"/>.</summary>
    public TimeSpan? PreemptGrace => PreemptGraceSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null;

    /// <summary>
    /// <c>--program PATH</c>: the ranks run this program (an executable, or a <c>.dll</c> run by <c>dotnet</c>) with
    /// <see cref="Arguments"/> instead of <c>adan</c>; null: they run <c>adan</c> with the adan command in <see cref="Arguments"/>.
    /// </summary>
    public string? Program { get; init; }

    /// <summary>Whether the ranks run a program of the user's (<see cref="Program"/>) rather than an adan command.</summary>
    public bool RunsProgram => Program is not null;

    /// <summary>The executable mpiexec starts as each rank and the arguments that precede <see cref="Arguments"/>.</summary>
    public (string Executable, string[] Prefix) RankExecutable => Program switch
    {
        null => (Environment.ProcessPath ?? "adan", []),
        var dll when dll.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) => (DotnetHost, [dll]),
        var path => (path, []),
    };

    /// <summary>The dotnet host that runs a program given as a <c>.dll</c>: the one running adan when it is dotnet, else <c>dotnet</c> on PATH.</summary>
    private static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
        : Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet";
}
