using System.Text.Json;
using System.Text.Json.Serialization;

namespace Adan.Sharded.Training.Telemetry;

/// <summary>Writes and reads <c>summary.json</c>.</summary>
internal static class RunSummaryWriter
{
    /// <summary>The file name inside the run directory.</summary>
    public const string FileName = "summary.json";

    private static readonly JsonSerializerOptions s_options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // A missing accuracy is written as null rather than dropped, so readers see every key.
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        WriteIndented = true,
    };

    /// <summary>
    /// Writes <paramref name="summary"/> to <c>runDir/summary.json</c> through a temporary file
    /// and a rename, so a reader never sees half a file. Returns the path.
    /// </summary>
    public static string Write(string runDir, RunSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        Directory.CreateDirectory(runDir);
        var path = Path.Combine(runDir, FileName);
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, ToJson(summary));
        File.Move(temporary, path, overwrite: true);
        return path;
    }

    /// <summary>The JSON text of <paramref name="summary"/>.</summary>
    public static string ToJson(RunSummary summary) => JsonSerializer.Serialize(summary, s_options);

    /// <summary>Reads a summary written by <see cref="Write"/>.</summary>
    public static RunSummary Read(string path) =>
        JsonSerializer.Deserialize<RunSummary>(File.ReadAllText(path), s_options)
        ?? throw new InvalidDataException($"{path} holds no run summary.");
}
