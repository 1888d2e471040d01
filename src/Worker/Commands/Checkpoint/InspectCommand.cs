using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Adan.Sharded.Checkpoints;

namespace Adan.Worker.Commands.Checkpoint;

/// <summary>
/// <c>adan checkpoint inspect DIR [--json]</c>: step, world size, parameters, bytes and every shard's checksum status
/// as a table, or as one JSON object. Exit code 0 when every shard checks out, 1 otherwise.
/// </summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var directory = CheckpointArguments.Directory();
        var json = new Option<bool>("--json") { Description = "Print the manifest summary as JSON" };
        var command = new Command("inspect", "Show a checkpoint's step, world size, parameters, sizes and checksum status") { directory, json };
        command.SetAction(r => Run(r.GetValue(directory)!, r.GetValue(json)));
        return command;
    }

    private static int Run(string path, bool json)
    {
        var result = CheckpointVerifier.Verify(path);
        var m = result.Manifest;
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                directory = result.Directory,
                format_version = m.FormatVersion,
                step = m.Step,
                world_size = m.WorldSize,
                zero_stage = m.ZeroStage,
                parameters = result.ParameterCount,
                tensors = m.Layout.Parameters.Select(p => new { name = p.Name, shape = p.Shape }),
                groups = m.Optimizer.Groups.Select(g => new { lr = g.LearningRate, step = g.Step, parameters = g.Parameters }),
                skipped_steps = m.Optimizer.SkippedSteps,
                lr_schedule_step = m.LearningRateStep,
                sampler = new { epoch = m.Sampler.Epoch, batch = m.Sampler.Batch },
                rng_seeds = m.RngSeeds,
                extra = m.Extra,
                module_buffers = m.ModuleBuffers is { } b
                    ? new { file = b.File, bytes = b.Bytes, sha256 = b.Sha256, ok = result.ModuleBuffersProblem is null, problem = result.ModuleBuffersProblem }
                    : null,
                bytes = result.Bytes,
                valid = result.Ok,
                shards = result.Shards.Select(s => new { rank = s.Shard.Rank, file = s.Shard.File, bytes = s.Shard.Bytes, sha256 = s.Shard.Sha256, ok = s.Ok, problem = s.Problem }),
            }, new JsonSerializerOptions { WriteIndented = true }));
            return result.Ok ? ExitCodes.Success : ExitCodes.Failure;
        }
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"checkpoint  {result.Directory}"));
        Console.WriteLine(string.Create(c, $"step        {m.Step}"));
        Console.WriteLine(string.Create(c, $"world size  {m.WorldSize} (saved at ZeRO stage {m.ZeroStage})"));
        Console.WriteLine(string.Create(c, $"parameters  {result.ParameterCount:N0} in {m.Layout.Parameters.Length} tensors"));
        Console.WriteLine(string.Create(c, $"bytes       {result.Bytes:N0}"));
        Console.WriteLine(string.Create(c, $"sampler     epoch {m.Sampler.Epoch}, batch {m.Sampler.Batch}; LR step {m.LearningRateStep}"));
        Console.WriteLine();
        Console.WriteLine($"{"rank",4}  {"file",-34}  {"bytes",14}  {"sha256",-16}  status");
        foreach (var s in result.Shards)
        {
            Console.WriteLine(string.Create(c,
                $"{s.Shard.Rank,4}  {s.Shard.File,-34}  {s.Shard.Bytes,14:N0}  {s.Shard.Sha256[..Math.Min(16, s.Shard.Sha256.Length)],-16}  {(s.Ok ? "ok" : "BAD: " + s.Problem)}"));
        }
        if (m.ModuleBuffers is { } buffers)
        {
            Console.WriteLine(string.Create(c,
                $"{"",4}  {buffers.File,-34}  {buffers.Bytes,14:N0}  {buffers.Sha256[..Math.Min(16, buffers.Sha256.Length)],-16}  {(result.ModuleBuffersProblem is null ? "ok" : "BAD: " + result.ModuleBuffersProblem)}"));
        }
        return result.Ok ? ExitCodes.Success : ExitCodes.Failure;
    }
}
