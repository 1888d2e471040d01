namespace Adan.Worker.Commands.Sweep;

/// <summary>One point of a run's training-loss curve, from a progress line of the trainer.</summary>
/// <param name="Samples">Training samples seen by then (steps × global batch).</param>
/// <param name="Loss">The training loss the line showed.</param>
internal readonly record struct CurvePoint(long Samples, double Loss);
