using System.Text.Json.Nodes;
using Adan.Sharded.Checkpoints;
using TorchSharp;

namespace Adan.Worker.Training;

/// <summary>
/// What the trainer keeps in a checkpoint's <c>extra</c> object besides the flat parameters and
/// Adan's state: the model name, the last global loss, and the module's buffers (BatchNorm running
/// statistics, averaged over ranks at save time) as base64 fp32.
/// </summary>
internal static class CheckpointSupport
{
    /// <summary>Where a run resumes from: null for a fresh start.</summary>
    /// <exception cref="CheckpointException">An explicit path is not a committed checkpoint.</exception>
    public static string? ResumeDirectory(string resume, string checkpointRoot)
    {
        switch (resume)
        {
            case "none":
                return null;
            case "latest":
                var committed = Directory.Exists(checkpointRoot) ? CheckpointFiles.Committed(checkpointRoot) : [];
                return committed.Count == 0 ? null : committed[^1].Directory;
            default:
                return CheckpointFiles.Resolve(resume);
        }
    }

    /// <summary>
    /// Refuses to start a run that saves into <paramref name="checkpointRoot"/> while it holds committed checkpoints
    /// newer than the run's start: the run would reach those steps and have to overwrite them. Found at start, not
    /// after hours of training at the first colliding save.
    /// </summary>
    /// <exception cref="CheckpointException">Such checkpoints exist; the message names them and the ways out.</exception>
    public static void RefuseNewerCheckpoints(string checkpointRoot, long startStep)
    {
        var newer = CheckpointFiles.Committed(checkpointRoot).Where(c => c.Step > startStep).Select(c => c.Step).ToList();
        if (newer.Count > 0)
        {
            throw new CheckpointException(
                $"{checkpointRoot} already holds committed checkpoint(s) of step {string.Join(", ", newer)}, after this run's start (step {startStep}); " +
                "saving would overwrite them, and a committed checkpoint is never overwritten. Write this run's checkpoints elsewhere " +
                "(--set checkpoint_dir=DIR) or move those checkpoints away.");
        }
    }

    public static JsonObject Extra(string model, double lastLoss, torch.nn.Module module)
    {
        var buffers = new JsonObject();
        foreach (var (name, buffer) in module.named_buffers())
        {
            if (buffer.dtype == torch.ScalarType.Float32)
            {
                buffers[name] = Convert.ToBase64String(buffer.contiguous().bytes);
            }
        }
        return new JsonObject { ["model"] = model, ["last_loss"] = lastLoss, ["buffers"] = buffers };
    }

    /// <summary>Restores the buffers saved by <see cref="Extra"/> and returns the saved last loss.</summary>
    public static double Restore(JsonObject? extra, torch.nn.Module module, string source)
    {
        if (extra?["buffers"] is JsonObject buffers)
        {
            foreach (var (name, buffer) in module.named_buffers())
            {
                if (buffer.dtype != torch.ScalarType.Float32)
                {
                    continue;
                }
                if (buffers[name]?.GetValue<string>() is not { } text)
                {
                    throw new CheckpointException($"{source}: the checkpoint has no value for buffer '{name}' of this model.");
                }
                var bytes = Convert.FromBase64String(text);
                if (bytes.Length != buffer.numel() * sizeof(float))
                {
                    throw new CheckpointException($"{source}: buffer '{name}' has {bytes.Length / sizeof(float)} values, the model expects {buffer.numel()}.");
                }
                buffer.bytes = bytes;
            }
        }
        return extra?["last_loss"]?.GetValue<double>() ?? double.NaN;
    }
}
