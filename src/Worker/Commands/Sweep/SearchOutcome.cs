namespace Adan.Worker.Commands.Sweep;

/// <summary>What a sweep ran, and the learning rate it chose per (batch, optimizer).</summary>
/// <param name="Results">Every run that was executed or skipped as finished, in the plan's order.</param>
/// <param name="Chosen">The chosen multiplier of each (batch, optimizer): 1 without <c>--lr-grid</c>.</param>
/// <param name="Finalists">The multipliers stage 2 ran with every seed, best first; empty without a grid.</param>
internal sealed record SearchOutcome(
    IReadOnlyList<RunResult> Results,
    IReadOnlyDictionary<(int Batch, string Optimizer), double> Chosen,
    IReadOnlyDictionary<(int Batch, string Optimizer), IReadOnlyList<double>> Finalists)
{
    /// <summary>The runs of the chosen learning rates, every seed: what the tables, plots and verdicts compare.</summary>
    public IReadOnlyList<RunResult> ChosenResults => [.. Results.Where(IsChosen)];

    /// <summary>Whether <paramref name="result"/> ran with its (batch, optimizer)'s chosen learning rate.</summary>
    public bool IsChosen(RunResult result) =>
        Chosen.TryGetValue((result.Batch, result.Optimizer), out var multiplier) && multiplier == result.LrMultiplier;
}
