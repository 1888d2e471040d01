namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// The sweep's learning-rate search (<c>--lr-grid</c>): stage 1 runs every grid point of every (batch, optimizer) with
/// the first seed; stage 2 runs the best <c>--finalists</c> points with the other seeds, reusing stage 1's run as their
/// first; the chosen learning rate is the finalist with the best median over seeds. Every choice is made on validation
/// (<see cref="ValidationScore"/>), never on the test set.
/// </summary>
/// <remarks>
/// Each optimizer gets the same number of trials at every batch, so no optimizer is better tuned than another. The
/// search knows nothing of how runs are executed: it hands each stage's runs to the sweep's executor, which skips runs
/// that finished earlier, so a rerun of the same command recomputes stage 2's finalists from stage 1's results and
/// runs only what is missing. Ties go to the multiplier closest to 1 (the scaling rule's own learning rate), then to
/// the smaller one, so the same results always give the same choice.
/// </remarks>
internal static class LearningRateSearch
{
    /// <summary>Runs <paramref name="plan"/> (all of <see cref="SweepPlanner.Plan"/>), by stages when the sweep has a grid.</summary>
    /// <param name="plan">Every planned run.</param>
    /// <param name="settings">The sweep's settings: its grid, finalists, seeds and target.</param>
    /// <param name="execute">Executes a list of runs and returns their results in the same order.</param>
    public static SearchOutcome Run(IReadOnlyList<PlannedRun> plan, SweepSettings settings, Func<IReadOnlyList<PlannedRun>, IReadOnlyList<RunResult>> execute)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(execute);
        if (settings.LrGrid is null)
        {
            var all = execute(plan);
            var groups = all.Select(r => (r.Batch, r.Optimizer)).Distinct().ToList();
            return new SearchOutcome(all, groups.ToDictionary(g => g, _ => 1.0), groups.ToDictionary(g => g, _ => (IReadOnlyList<double>)[]));
        }

        var stage1 = plan.Where(run => (run.SeedIndex ?? 0) == 0).ToList();
        var results = stage1.Zip(execute(stage1)).ToDictionary(pair => pair.First, pair => pair.Second);
        var finalists = new Dictionary<(int Batch, string Optimizer), IReadOnlyList<double>>();
        foreach (var group in stage1.GroupBy(run => (run.Batch, run.Optimizer)))
        {
            finalists[group.Key] = Best(group.Select(run => (run.LrMultiplier!.Value, (IReadOnlyList<RunResult>)[results[run]])), settings, results.Values)
                .Take(settings.Finalists).ToList();
        }

        var stage2 = plan.Where(run => run.SeedIndex > 0 && finalists[(run.Batch, run.Optimizer)].Contains(run.LrMultiplier!.Value)).ToList();
        if (stage2.Count > 0)
        {
            foreach (var (run, result) in stage2.Zip(execute(stage2)))
            {
                results[run] = result;
            }
        }

        var chosen = new Dictionary<(int Batch, string Optimizer), double>();
        foreach (var (group, points) in finalists)
        {
            var seeds = points.Select(m => (m, (IReadOnlyList<RunResult>)[.. results.Where(pair => pair.Key.Batch == group.Batch
                && pair.Key.Optimizer == group.Optimizer && pair.Key.LrMultiplier == m).Select(pair => pair.Value)]));
            chosen[group] = Best(seeds, settings, results.Values)[0];
        }
        return new SearchOutcome([.. plan.Where(results.ContainsKey).Select(run => results[run])], chosen, finalists);
    }

    /// <summary>
    /// The multipliers ordered best first by the validation score of their runs, ties to the multiplier closest to 1,
    /// then the smaller.
    /// </summary>
    /// <param name="points">Each multiplier with its runs (one seed in stage 1, every seed among the finalists).</param>
    /// <param name="settings">The sweep's settings (whether it has a target).</param>
    /// <param name="all">Every result so far, to judge by val_accuracy when any run has one, else by val_loss.</param>
    public static IReadOnlyList<double> Best(IEnumerable<(double Multiplier, IReadOnlyList<RunResult> Runs)> points, SweepSettings settings,
        IEnumerable<RunResult> all)
    {
        var byAccuracy = all.Any(r => r.Status == RunStatus.Finished && r.ValAccuracy is not null);
        return [.. points
            .Select(point => (point.Multiplier, Score: ValidationScore.Of(point.Runs, byAccuracy, settings.Target is not null)))
            .OrderBy(point => point.Score)
            .ThenBy(point => Math.Abs(Math.Log(point.Multiplier)))
            .ThenBy(point => point.Multiplier)
            .Select(point => point.Multiplier)];
    }
}
