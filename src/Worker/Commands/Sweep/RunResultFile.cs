using System.Text.Json;
using System.Text.Json.Serialization;
using Adan.Sharded.IO;

namespace Adan.Worker.Commands.Sweep;

/// <summary>
/// Reads and writes <c>result.json</c>; written with <see cref="AtomicFile"/>, so a sweep killed at any moment leaves each
/// run either with its previous result or its new one, never a torn file that a rerun would misread.
/// </summary>
internal static class RunResultFile
{
    /// <summary>The file name inside a run's directory.</summary>
    public const string FileName = "result.json";

    /// <summary>The JSON conventions of every file the sweep writes: snake_case keys, kebab-case enum values.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false) },
        WriteIndented = true,
    };

    /// <summary>The result in <paramref name="runDirectory"/>, or null when there is none or it cannot be read (then the run is redone).</summary>
    public static RunResult? Read(string runDirectory)
    {
        var path = Path.Combine(runDirectory, FileName);
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<RunResult>(File.ReadAllText(path), Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Replaces the result in <paramref name="runDirectory"/> atomically.</summary>
    public static void Write(string runDirectory, RunResult result)
    {
        Directory.CreateDirectory(runDirectory);
        AtomicFile.WriteAllText(Path.Combine(runDirectory, FileName), JsonSerializer.Serialize(result, Options));
    }
}
