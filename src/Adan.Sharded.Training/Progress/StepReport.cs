namespace Adan.Sharded.Training.Progress;

/// <summary>What the training loop tells the progress display after an optimizer step.</summary>
/// <param name="Epoch">The current epoch, 1-based.</param>
/// <param name="Step">Optimizer steps done so far (1-based after the first step).</param>
/// <param name="TotalSteps">Optimizer steps the run will take.</param>
/// <param name="Loss">The training loss to show (e.g. the mean over the last log interval).</param>
/// <param name="Lr">The learning rate of this step.</param>
/// <param name="SamplesPerSecond">Global training throughput (all ranks).</param>
/// <param name="SkippedSteps">Steps skipped so far because the gradients were not finite; shown only when some were.</param>
/// <param name="NoiseScale">The moving estimate of the gradient noise scale B_simple; shown when there is one.</param>
internal readonly record struct StepReport(int Epoch, long Step, long TotalSteps, double Loss, double Lr, double SamplesPerSecond, long SkippedSteps = 0,
    double? NoiseScale = null);
