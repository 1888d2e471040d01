using System.Globalization;
using TorchSharp;
using TorchSharp.Modules;

namespace Adan.Sharded.Training.Telemetry;

/// <summary>
/// TensorBoard scalars of a run (<c>tensorboard_dir</c>), written by rank 0 with TorchSharp's
/// <c>torch.utils.tensorboard.SummaryWriter</c>: every record <see cref="MetricsLog"/> writes to <c>metrics.jsonl</c>,
/// as the same values under <c>group/field</c> tags named after the record's fields (<see cref="StepTags"/>,
/// <see cref="EvaluationTag"/>).
/// </summary>
/// <remarks>
/// <para>
/// [Note: a TensorBoard failure] <c>metrics.jsonl</c> is the run's record; TensorBoard is a view of it. A directory that
/// cannot be written at the start ends the run there with one line naming it (nothing has been trained yet). A write
/// that fails later (disk full, directory removed) never ends training: rank 0 prints one warning naming the directory
/// and the error and writes no more TensorBoard events for the rest of the run. Stopping, rather than trying the next
/// event, keeps the event file readable: the writer appends each event in place, so a failed write may leave a torn
/// record, which TensorBoard's reader takes for the end of the file, and every event after it would be lost to readers
/// anyway or read as garbage.
/// </para>
/// <para>
/// The writer opens, appends to and closes its file for each scalar, on the training thread; at <c>log_every</c>
/// steps per record that is a few small writes per record. TensorBoard's steps are 32-bit: a step past
/// <see cref="int.MaxValue"/> is not written (one warning). A resumed run appends a new event file to the directory, so
/// the steps between the checkpoint and the end of an interrupted run appear twice there, as they were run.
/// </para>
/// </remarks>
internal sealed class TensorBoardLog
{
    private readonly SummaryWriter _writer;
    private readonly TextWriter _warnings;
    private readonly TimeProvider _time;
    private bool _stepsOutOfRangeWarned;

    private TensorBoardLog(SummaryWriter writer, string directory, TextWriter warnings, TimeProvider time)
    {
        _writer = writer;
        Directory = directory;
        _warnings = warnings;
        _time = time;
    }

    /// <summary>The tag of each step record field written, by the record's JSON field name.</summary>
    public static IReadOnlyDictionary<string, string> StepTags { get; } = new Dictionary<string, string>
    {
        ["loss"] = "train/loss",
        ["lr"] = "train/lr",
        ["grad_norm"] = "train/grad_norm",
        ["samples_per_second"] = "train/samples_per_second",
        ["b_simple"] = "noise/b_simple",
        ["trace_sigma"] = "noise/trace_sigma",
        ["grad_sq_norm"] = "noise/grad_sq_norm",
    };

    /// <summary>The directory of the event files.</summary>
    public string Directory { get; }

    /// <summary>Whether a write failed and no more events are written.</summary>
    public bool Stopped { get; private set; }

    /// <summary>The tag of an evaluation metric, e.g. <c>val/accuracy</c> or <c>test/loss</c>.</summary>
    /// <param name="split">The record's split (<c>val</c>, <c>test</c>).</param>
    /// <param name="field">The record's field (<c>loss</c>, <c>accuracy</c>, <c>perplexity</c>).</param>
    public static string EvaluationTag(string split, string field) => $"{split}/{field}";

    /// <summary>Creates <paramref name="directory"/> if needed and a new event file in it.</summary>
    /// <param name="directory">The event files' directory (<c>tensorboard_dir</c> resolved).</param>
    /// <param name="warnings">Where a later failure is reported, once.</param>
    /// <param name="time">The clock of the events' wall time.</param>
    /// <exception cref="IOException">The directory or the event file cannot be created; names both and the fix.</exception>
    public static TensorBoardLog Open(string directory, TextWriter warnings, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(warnings);
        ArgumentNullException.ThrowIfNull(time);
        try
        {
            System.IO.Directory.CreateDirectory(directory);
            return new TensorBoardLog(torch.utils.tensorboard.SummaryWriter(directory), directory, warnings, time);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException(
                $"tensorboard_dir '{directory}': cannot create a TensorBoard event file there ({e.Message}); choose a writable directory, or set tensorboard_dir= (empty) to turn TensorBoard off.",
                e);
        }
    }

    /// <summary>The step record's scalars: loss, learning rate, gradient norm when the step was applied, throughput, the noise scale when measured.</summary>
    public void Write(StepMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        Write(metrics.Step,
        [
            ("loss", metrics.Loss), ("lr", metrics.Lr), ("grad_norm", metrics.GradNorm), ("samples_per_second", metrics.SamplesPerSecond),
            ("b_simple", metrics.BSimple), ("trace_sigma", metrics.TraceSigma), ("grad_sq_norm", metrics.GradSqNorm),
        ], field => StepTags[field]);
    }

    /// <summary>The evaluation record's metrics under its split: loss, and accuracy or perplexity when the task has them.</summary>
    public void Write(EvalMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        Write(metrics.Step, [("loss", metrics.Loss), ("accuracy", metrics.Accuracy), ("perplexity", metrics.Perplexity)],
            field => EvaluationTag(metrics.Split, field));
    }

    private void Write(long step, (string Field, double? Value)[] scalars, Func<string, string> tag)
    {
        if (Stopped)
        {
            return;
        }
        if (step > int.MaxValue)
        {
            if (!_stepsOutOfRangeWarned)
            {
                _stepsOutOfRangeWarned = true;
                _warnings.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"warning: TensorBoard steps are 32-bit; steps past {int.MaxValue} are not written to {Directory} (metrics.jsonl has them)."));
            }
            return;
        }
        // The writer takes whole seconds since the epoch.
        var wallTime = _time.GetUtcNow().ToUnixTimeSeconds();
        try
        {
            foreach (var (field, value) in scalars)
            {
                if (value is { } present)
                {
                    _writer.add_scalar(tag(field), (float)present, (int)step, wallTime);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Stopped = true;
            _warnings.WriteLine($"warning: writing TensorBoard events to {Directory} failed ({e.Message}); no more TensorBoard events this run, training and metrics.jsonl go on.");
        }
    }
}
