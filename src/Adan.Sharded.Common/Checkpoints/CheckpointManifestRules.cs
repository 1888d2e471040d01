using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace Adan.Sharded.Checkpoints;

/// <summary>
/// What a manifest must satisfy before anything it names is opened: the world size and the shard list agree, shard
/// files have their canonical names (so they resolve inside the checkpoint directory), sizes and offsets of the layout
/// are consistent, and the optimizer's bookkeeping fits the layout. The reader, the verifier, the exporter and both
/// catalogues' commit (<see cref="CheckpointCommit"/>) all go through here.
/// </summary>
/// <remarks>
/// Torch-free on purpose: the coordinator validates the manifests it commits with the same rules. The layout's own
/// placement rules (alignment, padding) are checked again by the tensor library's <c>FlatLayout.FromDocument</c>.
/// </remarks>
public static partial class CheckpointManifestRules
{
    [GeneratedRegex(@"^[0-9a-f]{64}\z")]
    private static partial Regex Sha256Pattern();

    /// <summary>True when <paramref name="sha256"/> is 64 lowercase hex digits and nothing else.</summary>
    public static bool IsSha256(string? sha256) => sha256 is not null && Sha256Pattern().IsMatch(sha256);

    /// <summary>Checks everything but the shard list, and the shard list when it is not empty.</summary>
    /// <param name="manifest">The manifest as parsed.</param>
    /// <param name="source">The manifest's path (or what it came from), for messages.</param>
    /// <param name="requireShards">A committed manifest must list one shard per rank; a body sent for commit may list none.</param>
    /// <exception cref="CheckpointException">The first rule broken, naming <paramref name="source"/>.</exception>
    public static void Check(CheckpointManifest manifest, string source, bool requireShards)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.FormatVersion is < CheckpointManifest.MinimumFormatVersion or > CheckpointManifest.CurrentFormatVersion)
        {
            throw Refuse(source, $"manifest format version {manifest.FormatVersion} is not supported; this build reads versions " +
                $"{CheckpointManifest.MinimumFormatVersion} to {CheckpointManifest.CurrentFormatVersion}");
        }
        if (manifest.WorldSize < 1)
        {
            throw Refuse(source, $"world_size is {manifest.WorldSize}; a checkpoint has at least one shard");
        }
        Require(manifest.Step >= 0, source, $"step is {manifest.Step}; it must be ≥ 0");
        Require(manifest.ZeroStage is >= 0 and <= 2, source, $"zero_stage is {manifest.ZeroStage}; it must be 0, 1 or 2");
        Require(manifest.LearningRateStep >= 0, source, $"learning_rate_step is {manifest.LearningRateStep}; it must be ≥ 0");
        Require(manifest.Sampler.Epoch >= 0 && manifest.Sampler.Batch >= 0, source,
            $"sampler is (epoch {manifest.Sampler.Epoch}, batch {manifest.Sampler.Batch}); both must be ≥ 0");
        Require(manifest.RngSeeds is not null, source, "rng_seeds is null");
        Require(manifest.Extra is not null, source, "extra is null");
        CheckTensors(manifest, source);
        CheckLayout(manifest, source);
        CheckOptimizer(manifest, source);
        if (requireShards || manifest.Shards is not { Length: 0 })
        {
            CheckShards(manifest, source);
        }
        if (manifest.ModuleBuffers is { } buffers)
        {
            Require(manifest.FormatVersion >= 2, source, $"module_buffers needs format version 2; the manifest says {manifest.FormatVersion}");
            Require(buffers.File == CheckpointFiles.ModuleBuffersFileName, source,
                $"module_buffers names the file '{buffers.File}'; it must be {CheckpointFiles.ModuleBuffersFileName}");
            Require(buffers.Bytes >= 8, source, $"module_buffers has {buffers.Bytes} bytes; a safetensors file has at least 8");
            Require(IsSha256(buffers.Sha256), source, "module_buffers has no valid sha256 (64 lowercase hex digits)");
        }
    }

    private static void CheckTensors(CheckpointManifest manifest, string source)
    {
        var tensors = manifest.Tensors;
        Require(tensors is { Length: > 0 }, source, "tensors lists no tensor");
        Require(tensors.All(t => !string.IsNullOrEmpty(t)), source, "tensors has an empty name");
        Require(tensors.Distinct(StringComparer.Ordinal).Count() == tensors.Length, source,
            $"tensors [{string.Join(", ", tensors)}] lists a name twice");
    }

    /// <summary>Checks the layout's sizes and offsets.</summary>
    private static void CheckLayout(CheckpointManifest manifest, string source)
    {
        var layout = manifest.Layout;
        Require(layout is not null, source, "layout is missing");
        Require(layout.Parameters is not null, source, "layout.parameters is missing");
        Require(layout.WorldSize == manifest.WorldSize, source,
            $"the layout is for {layout.WorldSize} ranks, world_size is {manifest.WorldSize}");
        Require(layout.Alignment >= 1, source, $"layout.alignment is {layout.Alignment}; it must be ≥ 1");
        Require(layout.TotalNumel >= 0 && layout.TotalNumel % manifest.WorldSize == 0, source,
            $"layout.total_numel {layout.TotalNumel} is not a non-negative multiple of world_size {manifest.WorldSize}");
        var end = 0L;
        foreach (var p in layout.Parameters)
        {
            Require(p is not null && !string.IsNullOrEmpty(p.Name) && p.Shape is not null, source, "a layout entry has no name or shape");
            Require(p.Shape.All(d => d >= 0), source, $"layout entry '{p.Name}' has shape [{string.Join(", ", p.Shape)}] with a negative dimension");
            long numel;
            try
            {
                numel = p.Shape.Aggregate(1L, (a, b) => checked(a * b));
            }
            catch (OverflowException)
            {
                throw Refuse(source, $"layout entry '{p.Name}' has shape [{string.Join(", ", p.Shape)}], too large");
            }
            Require(numel == p.Numel, source, $"layout entry '{p.Name}' has numel {p.Numel}, its shape [{string.Join(", ", p.Shape)}] gives {numel}");
            Require(p.Offset >= end && p.Offset <= layout.TotalNumel - p.Numel, source,
                $"layout entry '{p.Name}' at offset {p.Offset} of {p.Numel} elements overlaps the previous one or ends past total_numel {layout.TotalNumel}");
            end = p.Offset + p.Numel;
        }
    }

    private static void CheckOptimizer(CheckpointManifest manifest, string source)
    {
        var optimizer = manifest.Optimizer;
        Require(optimizer is not null, source, "optimizer is missing");
        Require(!string.IsNullOrEmpty(optimizer.Name), source, "optimizer has no name");
        Require(optimizer.Groups is not null, source, "optimizer has no groups");
        var count = manifest.Layout.Parameters.Length;
        if (manifest.FormatVersion < 3)
        {
            Require(optimizer.Name == "adan", source, $"optimizer is '{optimizer.Name}'; format {manifest.FormatVersion} holds only adan");
            Require(optimizer.HasPreviousGradient is not null, source, "optimizer has no has_previous_gradient");
            Require(optimizer.HasPreviousGradient.Length == count, source,
                $"has_previous_gradient has {optimizer.HasPreviousGradient.Length} entries for {count} parameters");
        }
        else
        {
            Require(optimizer.ParameterSteps is not null, source, "optimizer has no parameter_steps");
            Require(optimizer.ParameterSteps.Length == count, source,
                $"parameter_steps has {optimizer.ParameterSteps.Length} entries for {count} parameters");
            Require(optimizer.ParameterSteps.All(s => s >= 0), source, "parameter_steps has a negative count");
            Require(optimizer.State is { Length: > 0 } && optimizer.State.All(t => t is not null && !string.IsNullOrEmpty(t.Name) && t.Shape is not null),
                source, "optimizer.state lists no state tensor, or one without a name or shape");
            var shardSize = manifest.Layout.TotalNumel / manifest.WorldSize;
            Require(optimizer.StateMode is null or "bf16" or "8bit", source, $"optimizer.state_mode is '{optimizer.StateMode}'; this build knows bf16 and 8bit (fp32 is written as no state_mode)");
            foreach (var t in optimizer.State)
            {
                // fp32 state is one F32 entry per shard element; low-precision state adds bf16 or 8-bit codes, per-block
                // scales ([S / 256]) and the small parameters' fp32 values (shape: their total; each shard its range's).
                Require(t.Dtype == "F32" || (optimizer.StateMode is not null && t.Dtype is "BF16" or "U8"), source,
                    $"state tensor '{t.Name}' has dtype {t.Dtype}; this build reads F32 state, and BF16 or U8 codes with a state_mode");
                Require(t.Shape is [var n] && (n == shardSize || (optimizer.StateMode is not null && n >= 0)), source,
                    $"state tensor '{t.Name}' has shape [{string.Join(", ", t.Shape)}]; each shard holds [{shardSize}]");
                Require(manifest.Tensors.Contains(t.Name), source, $"state tensor '{t.Name}' is not among the shard tensors [{string.Join(", ", manifest.Tensors)}]");
            }
        }
        Require(optimizer.SkippedSteps >= 0, source, $"skipped_steps is {optimizer.SkippedSteps}; it must be ≥ 0");
        var seen = new bool[count];
        foreach (var group in optimizer.Groups)
        {
            Require(group is not null && group.Parameters is not null, source, "an optimizer group has no parameters list");
            Require(group.Step >= 0, source, $"an optimizer group's step is {group.Step}; it must be ≥ 0");
            Require(manifest.FormatVersion < 3 || group.Options is not null, source, "an optimizer group has no options");
            foreach (var index in group.Parameters)
            {
                Require(index >= 0 && index < count && !seen[index], source,
                    $"optimizer group parameter {index} is outside the layout's {count} parameters or in two groups");
                seen[index] = true;
            }
        }
    }

    private static void CheckShards(CheckpointManifest manifest, string source)
    {
        var shards = manifest.Shards;
        Require(shards is not null && shards.All(s => s is not null), source, "shards has a null entry");
        var ranks = shards.Select(s => s.Rank).Order().ToArray();
        if (!ranks.SequenceEqual(Enumerable.Range(0, manifest.WorldSize)))
        {
            throw Refuse(source, $"the shards are of ranks [{string.Join(", ", ranks.Take(16))}{(ranks.Length > 16 ? ", ..." : "")}], " +
                $"expected one for each rank 0..{manifest.WorldSize - 1}");
        }
        foreach (var shard in shards)
        {
            var expected = CheckpointFiles.ShardFileName(shard.Rank, manifest.WorldSize);
            if (shard.File != expected)
            {
                throw Refuse(source, $"the shard file '{shard.File}' of rank {shard.Rank} is not {expected}: shard files are named " +
                    "shard-NNNNN-of-NNNNN.safetensors, plain file names inside the checkpoint directory");
            }
            // The bytes are checked against the file and its header (every tensor of shardSize elements) when it is opened.
            Require(shard.Bytes >= 0, source, $"{shard.File} is listed with {shard.Bytes} bytes");
            Require(IsSha256(shard.Sha256), source, $"{shard.File} has no valid sha256 (64 lowercase hex digits)");
        }
    }

    private static void Require([DoesNotReturnIf(false)] bool condition, string source, string problem)
    {
        if (!condition)
        {
            throw Refuse(source, problem);
        }
    }

    private static CheckpointException Refuse(string source, string problem) => new($"{source}: {problem}.");
}
