using System.Globalization;
using System.Text.Json;
using Adan.Sharded.Tests.MultiRank;

namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>What one run of the <c>checkpoint-mlp</c> scenario reported from rank 0.</summary>
internal sealed record CheckpointRun(long Start, double[] Losses, float[] Params, float[] State)
{
    /// <summary>
    /// Runs the scenario and asserts that every rank exited 0; <paramref name="background"/> saves through the background
    /// writer, <paramref name="staged"/> saves and loads through host staging (a GPU run's path, forced on CPU tensors);
    /// <paramref name="optimizer"/> picks the rule, whose whole state the run reports; <paramref name="stateMode"/> its
    /// optimizer_state (a low-precision mode trains the wide MLP and reports its state decoded).
    /// </summary>
    public static CheckpointRun Ok(int ranks, int stage, int steps, string root, string saves, bool resume, bool background = false, bool staged = false,
        string optimizer = "adan", string stateMode = "fp32")
    {
        var output = Path.Combine(root, $"out-{Guid.NewGuid():N}.json");
        MpiHarness.RunOk(ranks, "checkpoint-mlp", stage.ToString(CultureInfo.InvariantCulture), steps.ToString(CultureInfo.InvariantCulture),
            root, saves, resume ? "1" : "0", output, "-1", background ? "1" : "0", staged ? "1" : "0", optimizer, stateMode);
        return Read(output);
    }

    /// <summary>Reads the scenario's output file.</summary>
    public static CheckpointRun Read(string output)
    {
        var json = JsonDocument.Parse(File.ReadAllText(output)).RootElement;
        File.Delete(output);
        return new CheckpointRun(
            json.GetProperty("start").GetInt64(),
            [.. json.GetProperty("losses").EnumerateArray().Select(e => e.GetDouble())],
            [.. json.GetProperty("params").EnumerateArray().Select(e => e.GetSingle())],
            [.. json.GetProperty("state").EnumerateArray().Select(e => e.GetSingle())]);
    }
}
