using System.Globalization;
using System.Text.Json.Nodes;
using Adan.Sharded.Checkpoints;
using Adan.Sharded.Collectives;

namespace Adan.Sharded.Training;

/// <summary>
/// Makes every rank resume from the same checkpoint: rank 0 alone resolves the resume setting (<c>latest</c> from its
/// listing of the checkpoint directory, or a path) and broadcasts the checkpoint's directory and step; every rank then
/// reads that manifest, and one all-reduce tells all of them whether every rank could.
/// </summary>
/// <remarks>
/// With per-node or lagging storage each rank's own listing may name another checkpoint, and ranks that loaded different
/// steps would train on silently diverged state. A rank that cannot read rank 0's choice (or reads another step there)
/// fails, and so do all the others, at the same point and with the rank named, instead of one rank leaving while the
/// rest wait in the next collective.
/// </remarks>
internal static class ResumeAgreement
{
    private const string DirectoryKey = "directory";
    private const string StepKey = "step";
    private const string ErrorKey = "error";

    /// <summary>The checkpoint every rank resumes from, with its manifest; null for a fresh start.</summary>
    /// <param name="collective">The job's ranks.</param>
    /// <param name="resolve">Called on rank 0 only: the checkpoint directory to resume from, null for none.</param>
    /// <param name="read">Reads a checkpoint's manifest (<see cref="CheckpointManifest.Read"/>).</param>
    /// <exception cref="CheckpointException">On every rank: rank 0 could not resolve the setting, or a rank could not read the checkpoint.</exception>
    /// <remarks>Collective: every rank must call.</remarks>
    public static (string Directory, CheckpointManifest Manifest)? Agree(ICollective collective, Func<string?> resolve,
        Func<string, CheckpointManifest> read)
    {
        var choice = TextBroadcast.Broadcast(collective, collective.Rank == 0 ? Choose(resolve, read) : string.Empty);
        var message = JsonNode.Parse(choice)!.AsObject();
        if (message[ErrorKey]?.GetValue<string>() is { } error)
        {
            throw new CheckpointException(error);
        }
        if (message[DirectoryKey]?.GetValue<string>() is not { } directory)
        {
            return null;
        }
        var step = message[StepKey]!.GetValue<long>();
        CheckpointManifest? manifest = null;
        string? problem = null;
        try
        {
            manifest = read(directory);
            if (manifest.Step != step)
            {
                problem = string.Create(CultureInfo.InvariantCulture, $"its manifest there is of step {manifest.Step}");
            }
        }
        catch (Exception e) when (e is CheckpointException or IOException or UnauthorizedAccessException)
        {
            problem = e.Message;
        }
        Span<long> failed = stackalloc long[collective.WorldSize];
        failed[collective.Rank] = problem is null ? 0 : 1;
        collective.AllReduce(failed);
        var failing = new List<int>();
        for (var r = 0; r < failed.Length; r++)
        {
            if (failed[r] != 0)
            {
                failing.Add(r);
            }
        }
        if (failing.Count == 0)
        {
            return (directory, manifest!);
        }
        var what = string.Create(CultureInfo.InvariantCulture, $"checkpoint {directory} (step {step}), which rank 0 chose to resume from");
        const string Fix = "every rank must see the checkpoint directory (shared storage, or copy it to each node), or pass --set resume=PATH to a checkpoint every rank can read";
        throw new CheckpointException(problem is not null
            ? string.Create(CultureInfo.InvariantCulture, $"rank {collective.Rank} cannot read {what}: {problem}; {Fix}.")
            : string.Create(CultureInfo.InvariantCulture, $"rank(s) {string.Join(", ", failing)} cannot read {what} (their own error says why); {Fix}."));
    }

    /// <summary>Rank 0's choice as the message it broadcasts: the directory and step, nothing for a fresh start, or the error.</summary>
    private static string Choose(Func<string?> resolve, Func<string, CheckpointManifest> read)
    {
        try
        {
            if (resolve() is not { } directory)
            {
                return new JsonObject().ToJsonString();
            }
            return new JsonObject { [DirectoryKey] = directory, [StepKey] = read(directory).Step }.ToJsonString();
        }
        catch (Exception e) when (e is CheckpointException or IOException or UnauthorizedAccessException)
        {
            return new JsonObject { [ErrorKey] = e.Message }.ToJsonString();
        }
    }
}
