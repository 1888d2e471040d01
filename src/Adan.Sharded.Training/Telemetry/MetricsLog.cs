using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Adan.Sharded.IO;

namespace Adan.Sharded.Training.Telemetry;

/// <summary>
/// <c>metrics.jsonl</c> in the run directory, written by rank 0: one JSON object a line, a <see cref="StepMetrics"/> per
/// logged step, an <see cref="EvalMetrics"/> per evaluation and a <see cref="CheckpointMetrics"/> per committed
/// checkpoint, each with its <c>kind</c>. This file, not the progress lines, is what the sweep and any later tool read:
/// console lines are for people and may change. With <c>tensorboard_dir</c> set, every step and evaluation record is
/// also written as TensorBoard scalars (<see cref="TensorBoardLog"/>), after its line here.
/// </summary>
/// <remarks>
/// Each line is flushed to the operating system as it is written, so a run killed with SIGKILL keeps every line before
/// the kill (at most the line being written is torn, and readers skip a last line without its newline). A run that
/// starts at step s keeps the lines of steps up to s and drops the rest before appending, through a truncated copy and
/// a rename, so a resumed or restarted run has each step once and a reader never sees a half-rewritten file.
/// </remarks>
internal sealed class MetricsLog : IDisposable
{
    /// <summary>The file name inside the run directory.</summary>
    public const string FileName = "metrics.jsonl";

    /// <summary>The <c>kind</c> of a step record.</summary>
    public const string StepKind = "step";

    /// <summary>The <c>kind</c> of an evaluation record.</summary>
    public const string EvalKind = "eval";

    /// <summary>The <c>kind</c> of a checkpoint record.</summary>
    public const string CheckpointKind = "checkpoint";

    private static readonly JsonSerializerOptions s_options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // Optional measurements a run does not take are left out rather than written as null.
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private readonly FileStream _stream;
    private readonly Utf8JsonWriter _writer;
    private readonly long _interval;
    private readonly TensorBoardLog? _tensorBoard;

    private MetricsLog(FileStream stream, long interval, TensorBoardLog? tensorBoard)
    {
        _stream = stream;
        _writer = new Utf8JsonWriter(stream);
        _interval = interval;
        _tensorBoard = tensorBoard;
    }

    /// <summary>
    /// Opens <c>runDir/metrics.jsonl</c> for a run that starts after step <paramref name="startStep"/> (0 for a fresh
    /// run), keeping the lines of earlier steps and dropping those beyond it.
    /// </summary>
    /// <param name="runDir">The run directory (created if missing).</param>
    /// <param name="startStep">The step the run continues from: its checkpoint's step, 0 when not resumed.</param>
    /// <param name="interval">Steps between step records (<c>log_every</c>); the last step is always recorded.</param>
    /// <param name="tensorBoard">Where every record also goes as TensorBoard scalars; null for none.</param>
    public static MetricsLog Open(string runDir, long startStep, long interval, TensorBoardLog? tensorBoard = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(startStep);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(interval);
        Directory.CreateDirectory(runDir);
        var path = Path.Combine(runDir, FileName);
        KeepThrough(path, startStep);
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read | FileShare.Delete, bufferSize: 4096);
        return new MetricsLog(stream, interval, tensorBoard);
    }

    /// <summary>Whether step <paramref name="step"/> of <paramref name="totalSteps"/> gets a step record.</summary>
    public bool Logs(long step, long totalSteps) => step % _interval == 0 || step == totalSteps;

    /// <summary>Appends a step record and flushes it, then writes it to TensorBoard when there is one.</summary>
    public void Write(StepMetrics metrics)
    {
        Append(metrics);
        _tensorBoard?.Write(metrics);
    }

    /// <summary>Appends an evaluation record and flushes it, then writes it to TensorBoard when there is one.</summary>
    public void Write(EvalMetrics metrics)
    {
        Append(metrics);
        _tensorBoard?.Write(metrics);
    }

    /// <summary>Appends a checkpoint record and flushes it.</summary>
    public void Write(CheckpointMetrics metrics) => Append(metrics);

    /// <summary>The checkpoint records of <paramref name="path"/> in file order; none when the file does not exist.</summary>
    public static IReadOnlyList<CheckpointMetrics> ReadCheckpoints(string path) => Read<CheckpointMetrics>(path, CheckpointKind);

    /// <summary>The step records of <paramref name="path"/> in file order; none when the file does not exist.</summary>
    public static IReadOnlyList<StepMetrics> ReadSteps(string path) => Read<StepMetrics>(path, StepKind);

    /// <summary>The evaluation records of <paramref name="path"/> in file order; none when the file does not exist.</summary>
    public static IReadOnlyList<EvalMetrics> ReadEvaluations(string path) => Read<EvalMetrics>(path, EvalKind);

    /// <summary>
    /// Passes each step record written to <paramref name="path"/> since byte <paramref name="offset"/> to
    /// <paramref name="onStep"/> (complete lines only, as <see cref="ReadLines"/>) and returns the offset to read from next.
    /// </summary>
    public static long ReadNewSteps(string path, long offset, Action<StepMetrics> onStep)
    {
        ArgumentNullException.ThrowIfNull(onStep);
        (var lines, offset) = ReadLines(path, offset);
        foreach (var line in lines)
        {
            if (TryParseStep(line, out var step))
            {
                onStep(step);
            }
        }
        return offset;
    }

    /// <summary>
    /// The complete lines of <paramref name="path"/> (those ending in a newline) from byte <paramref name="offset"/>,
    /// and the offset after the last of them; a file shorter than <paramref name="offset"/> (rewritten by a restarted
    /// run) is read from its start.
    /// </summary>
    public static (IReadOnlyList<string> Lines, long Offset) ReadLines(string path, long offset = 0)
    {
        if (!File.Exists(path))
        {
            return ([], 0);
        }
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (stream.Length < offset)
        {
            offset = 0;
        }
        stream.Seek(offset, SeekOrigin.Begin);
        var bytes = new byte[stream.Length - offset];
        stream.ReadExactly(bytes);
        var end = Array.LastIndexOf(bytes, (byte)'\n') + 1;
        var text = Encoding.UTF8.GetString(bytes, 0, end);
        return (text.Split('\n', StringSplitOptions.RemoveEmptyEntries), offset + end);
    }

    /// <summary>Reads one line as a step record; false for an evaluation record or a line that is not a record.</summary>
    public static bool TryParseStep(string line, [NotNullWhen(true)] out StepMetrics? metrics)
    {
        metrics = TryKind(line) == StepKind ? JsonSerializer.Deserialize<StepMetrics>(line, s_options) : null;
        return metrics is not null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _writer.Dispose();
        _stream.Dispose();
    }

    private void Append<T>(T metrics)
    {
        _writer.Reset();
        JsonSerializer.Serialize(_writer, metrics, s_options);
        _writer.Flush();
        _stream.WriteByte((byte)'\n');
        _stream.Flush();
    }

    private static IReadOnlyList<T> Read<T>(string path, string kind)
    {
        var records = new List<T>();
        foreach (var line in ReadLines(path).Lines)
        {
            if (TryKind(line) == kind && JsonSerializer.Deserialize<T>(line, s_options) is { } record)
            {
                records.Add(record);
            }
        }
        return records;
    }

    private static string? TryKind(string line)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("kind", out var kind)
                && kind.ValueKind == JsonValueKind.String
                ? kind.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Rewrites <paramref name="path"/> with only its complete records of steps up to <paramref name="step"/>.</summary>
    private static void KeepThrough(string path, long step)
    {
        if (!File.Exists(path))
        {
            return;
        }
        var kept = new StringBuilder();
        foreach (var line in ReadLines(path).Lines.Where(line => StepOf(line) is { } recorded && recorded <= step))
        {
            kept.Append(line).Append('\n');
        }
        AtomicFile.WriteAllText(path, kept.ToString());
    }

    private static long? StepOf(string line)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("step", out var step)
                && step.TryGetInt64(out var value)
                ? value
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
