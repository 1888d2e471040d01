namespace Adan.Worker.Commands.Sweep;

/// <summary>How one <c>adan launch</c> of a sweep ended, as its process, output and records tell it.</summary>
/// <param name="ExitCode">The launcher's exit code (meaningless when <paramref name="Interrupted"/>).</param>
/// <param name="Interrupted">The sweep was stopped while the launch ran and ended it.</param>
/// <param name="Curve">Training loss against samples seen, from the step records of its <c>metrics.jsonl</c>.</param>
/// <param name="StderrTail">The last lines the launch wrote to stderr.</param>
internal sealed record RunOutcome(int ExitCode, bool Interrupted, IReadOnlyList<CurvePoint> Curve, IReadOnlyList<string> StderrTail);
