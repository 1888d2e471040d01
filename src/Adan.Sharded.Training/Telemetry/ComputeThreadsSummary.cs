namespace Adan.Sharded.Training.Telemetry;

/// <summary>
/// <c>summary.json</c>'s <c>compute_threads</c>: the configured torch threads per rank and what the steps ran with,
/// each field the extreme over the ranks. A run computes as configured when <see cref="StepMin"/> and
/// <see cref="StepMax"/> equal <see cref="Configured"/> and <see cref="StepThreadsMax"/> is 1.
/// </summary>
/// <param name="Configured">The <c>threads</c> setting as applied (cores divided by the ranks on the host when 0).</param>
/// <param name="StepMin">The smallest of OpenMP's and MKL's thread counts seen at a step's start on the thread running it
/// (null: no step ran, or the libraries could not be read).</param>
/// <param name="StepMax">The largest, likewise.</param>
/// <param name="StepThreadsMax">The most distinct threads one rank ran its steps on.</param>
/// <param name="UnboundMin">The smallest of OpenMP's and MKL's counts on a new thread nobody bound (the process defaults).</param>
/// <param name="UnboundMax">The largest, likewise.</param>
/// <param name="DefaultsApplied">Whether every rank set the OpenMP/MKL defaults before libtorch loaded.</param>
internal sealed record ComputeThreadsSummary(
    int Configured,
    int? StepMin,
    int? StepMax,
    int StepThreadsMax,
    int? UnboundMin,
    int? UnboundMax,
    bool DefaultsApplied);
