using System.Globalization;
using System.Text;
using System.Text.Json;
using Adan.Sharded.IO;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// <c>results.json</c> and <c>results.csv</c>: one row per run the sweep executed, finished or not, in the plan's order;
/// <c>chosen</c> marks the rows of each (batch, optimizer)'s chosen learning rate, the ones the report compares.
/// </summary>
internal static class SweepTables
{
    /// <summary>The CSV header; <c>error</c> is empty unless the run failed or was stopped.</summary>
    public const string CsvHeader =
        "batch,optimizer,seed,steps,epochs,lr_multiplier,peak_lr,warmup_steps,final_train_loss,test_accuracy,test_loss,val_accuracy,val_loss,"
        + "target_reached,target_step,target_samples,b_noise,wall_seconds,samples_per_second,status,chosen,error";

    /// <summary>The rows as a JSON array of the results without their curves, config and settings.</summary>
    /// <param name="results">The rows.</param>
    /// <param name="chosen">Whether a row ran with its (batch, optimizer)'s chosen learning rate; all rows when null.</param>
    public static string Json(IEnumerable<RunResult> results, Func<RunResult, bool>? chosen = null) =>
        JsonSerializer.Serialize(results.Select(r => new
        {
            r.Batch, r.Optimizer, r.Seed, r.Steps, r.Epochs, r.LrMultiplier, r.PeakLr, r.WarmupSteps, r.FinalTrainLoss, r.TestAccuracy, r.TestLoss,
            r.ValAccuracy, r.ValLoss, r.TargetReached, r.TargetStep, r.TargetSamples, r.NoiseScale, r.NoiseScaleCi95, r.WallSeconds, r.SamplesPerSecond, r.Status,
            Chosen = chosen?.Invoke(r) ?? true, r.WorldSize, r.MicroBatch, r.Accumulation, r.Error,
        }), RunResultFile.Options);

    /// <summary>
    /// The rows as CSV (RFC 4180 quoting, invariant numbers, empty for a missing value); an error's lines are joined with
    /// <c> | </c> so that each run stays one line for line-based tools.
    /// </summary>
    /// <param name="results">The rows.</param>
    /// <param name="chosen">Whether a row ran with its (batch, optimizer)'s chosen learning rate; all rows when null.</param>
    public static string Csv(IEnumerable<RunResult> results, Func<RunResult, bool>? chosen = null)
    {
        var builder = new StringBuilder().Append(CsvHeader).Append('\n');
        foreach (var r in results)
        {
            string[] cells =
            [
                Number(r.Batch), Field(r.Optimizer), Number(r.Seed), Number(r.Steps), Number(r.Epochs), Number(r.LrMultiplier), Number(r.PeakLr), Number(r.WarmupSteps),
                Number(r.FinalTrainLoss), Number(r.TestAccuracy), Number(r.TestLoss), Number(r.ValAccuracy), Number(r.ValLoss),
                Field(r.TargetReached is { } reached ? (reached ? "true" : "false") : null), Number(r.TargetStep), Number(r.TargetSamples), Number(r.NoiseScale),
                Number(r.WallSeconds), Number(r.SamplesPerSecond),
                Field(JsonSerializer.Serialize(r.Status, RunResultFile.Options).Trim('"')),
                chosen?.Invoke(r) ?? true ? "true" : "false", Field(r.Error?.ReplaceLineEndings(" | ")),
            ];
            builder.AppendJoin(',', cells).Append('\n');
        }
        return builder.ToString();
    }

    /// <summary>Writes both files into <paramref name="directory"/>, each atomically.</summary>
    public static void Write(string directory, IReadOnlyList<RunResult> results, Func<RunResult, bool> chosen)
    {
        AtomicFile.WriteAllText(Path.Combine(directory, "results.json"), Json(results, chosen));
        AtomicFile.WriteAllText(Path.Combine(directory, "results.csv"), Csv(results, chosen));
    }

    private static string Number(double? value) =>
        value is { } v ? v.ToString("R", CultureInfo.InvariantCulture) : string.Empty;

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Field(string? text) =>
        text is null ? string.Empty
        : text.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? $"\"{text.Replace("\"", "\"\"", StringComparison.Ordinal)}\""
        : text;
}
