using Adan.Sharded.Checkpoints;
using Adan.Sharded.Tests.MultiRank;
using Xunit.Abstractions;

namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>
/// Train the MLP N steps saving at step k, then a fresh run resumes from k and continues to N. At the same world
/// size the losses, parameters and state are bit-identical to the uninterrupted run; at another world size they
/// match within the tolerance of <see cref="Zero.ShardedAdanTests"/> (float32 summation order of the gradient
/// reduction): parameters within 2e-5 + 2e-4·|ref|, losses within 1e-5 relative.
/// </summary>
public sealed class CheckpointResumeTests(ITestOutputHelper output) : IDisposable
{
    private const int Steps = 12;
    private const int SaveAt = 5;
    private readonly string _root = Directory.CreateTempSubdirectory("adan-ckpt-resume-").FullName;

    [Theory]
    [InlineData(2, 1)]
    [InlineData(2, 0)]
    public void ResumeAtTheSameWorldSizeIsBitIdentical(int ranks, int stage)
    {
        var full = CheckpointRun.Ok(ranks, stage, Steps, _root, SaveAt.ToString(), resume: false);
        var resumed = CheckpointRun.Ok(ranks, stage, Steps, _root, "-", resume: true);
        Assert.Equal(SaveAt, resumed.Start);
        Assert.Equal(full.Losses[SaveAt..], resumed.Losses);
        Assert.Equal(full.Params, resumed.Params);
        Assert.Equal(full.State, resumed.State);
    }

    /// <summary>Every optimizer saves its own state: LAMB, AdamW and SGD resume bit for bit at the same W and reshard to another.</summary>
    [Theory]
    [InlineData("lamb")]
    [InlineData("adamw")]
    [InlineData("sgd")]
    public void EveryOptimizerResumesBitIdenticalAndReshards(string optimizer)
    {
        var full = CheckpointRun.Ok(2, 1, Steps, _root, SaveAt.ToString(), resume: false, optimizer: optimizer);
        var resumed = CheckpointRun.Ok(2, 1, Steps, _root, "-", resume: true, optimizer: optimizer);
        Assert.Equal(SaveAt, resumed.Start);
        Assert.Equal(full.Losses[SaveAt..], resumed.Losses);
        Assert.Equal(full.Params, resumed.Params);
        Assert.Equal(full.State, resumed.State);
        var manifest = CheckpointManifest.Read(Directory.GetDirectories(_root, "step-*").Single());
        Assert.Equal(optimizer, manifest.Optimizer.Name);
        Assert.True(CheckpointVerifier.Verify(_root).Ok);

        var resharded = CheckpointRun.Ok(3, 1, Steps, _root, "-", resume: true, optimizer: optimizer);
        var maxParam = full.Params.Zip(resharded.Params).Max(p => Math.Abs(p.First - p.Second));
        output.WriteLine($"{optimizer} W 2 -> 3: max |Δparam| = {maxParam:E2}");
        for (var i = 0; i < full.Params.Length; i++)
        {
            Assert.True(Math.Abs(full.Params[i] - resharded.Params[i]) <= 2e-5 + 2e-4 * Math.Abs(full.Params[i]),
                $"{optimizer} W 2 -> 3: parameter {i} is {resharded.Params[i]}, expected {full.Params[i]} (max diff {maxParam:E2})");
        }
    }

    [Fact]
    public void ACheckpointLoadsOnlyIntoItsOwnOptimizer()
    {
        CheckpointRun.Ok(1, 1, SaveAt, _root, SaveAt.ToString(), resume: false, optimizer: "lamb");
        var result = MpiHarness.Run(1, "checkpoint-mlp", ["1", Steps.ToString(), _root, "-", "1", Path.Combine(_root, "out.json"), "-1", "0", "0", "adamw"]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("holds lamb state and this run's optimizer is adamw; resume with optimizer=lamb", result.Describe());
    }

    /// <summary>
    /// Low-precision state resumes bit for bit at the same W (stage 1 and the replicated stage 0, through host staging
    /// and the background writer too): its stochastic rounding is keyed by (seed, step, global index), not by a stream.
    /// </summary>
    [Theory]
    [InlineData("bf16", 1, false, false)]
    [InlineData("8bit", 1, false, false)]
    [InlineData("bf16", 0, true, false)]
    [InlineData("8bit", 1, true, true)]
    public void LowPrecisionStateResumesBitIdentical(string mode, int stage, bool background, bool staged)
    {
        var full = CheckpointRun.Ok(2, stage, Steps, _root, SaveAt.ToString(), resume: false, background, staged, stateMode: mode);
        var resumed = CheckpointRun.Ok(2, stage, Steps, _root, "-", resume: true, background, staged, stateMode: mode);
        Assert.Equal(SaveAt, resumed.Start);
        Assert.Equal(full.Losses[SaveAt..], resumed.Losses);
        Assert.Equal(full.Params, resumed.Params);
        Assert.Equal(full.State, resumed.State);
        var manifest = CheckpointManifest.Read(CheckpointFiles.StepDirectory(_root, SaveAt));
        Assert.Equal(mode, manifest.Optimizer.StateMode);
        Assert.True(CheckpointVerifier.Verify(_root).Ok);
    }

    /// <summary>
    /// Blocks lie on the global element grid, so a reshard moves codes with their scales: loaded at another W the state
    /// is the saved state bit for bit (a run with zero further steps reports it), and training goes on within the
    /// tolerance of <see cref="ResumeAtAnotherWorldSizeContinuesTheRun"/>.
    /// </summary>
    [Theory]
    [InlineData("bf16", 2, 3)]
    [InlineData("8bit", 2, 3)]
    [InlineData("8bit", 4, 1)]
    public void LowPrecisionStateReshardsBitIdentical(string mode, int savedRanks, int resumedRanks)
    {
        var saved = CheckpointRun.Ok(savedRanks, 1, SaveAt, _root, SaveAt.ToString(), resume: false, stateMode: mode);
        var loaded = CheckpointRun.Ok(resumedRanks, 1, SaveAt, _root, "-", resume: true, stateMode: mode);
        Assert.Equal(saved.Params, loaded.Params);
        Assert.Equal(ParameterState(saved.State), ParameterState(loaded.State));
        var full = CheckpointRun.Ok(savedRanks, 1, Steps, Directory.CreateDirectory(Path.Combine(_root, "full")).FullName, "-", resume: false, stateMode: mode);
        var resumed = CheckpointRun.Ok(resumedRanks, 1, Steps, _root, "-", resume: true, stateMode: mode);
        var maxParam = full.Params.Zip(resumed.Params).Max(p => Math.Abs(p.First - p.Second));
        output.WriteLine($"{mode} W {savedRanks} -> {resumedRanks}: max |Δparam| = {maxParam:E2}");
        for (var s = 0; s < Steps - SaveAt; s++)
        {
            var expected = full.Losses[SaveAt + s];
            Assert.True(Math.Abs(expected - resumed.Losses[s]) <= 1e-5 + 1e-4 * Math.Abs(expected),
                $"{mode} W {savedRanks} -> {resumedRanks}: loss at step {SaveAt + s} is {resumed.Losses[s]}, expected {expected}");
        }
    }

    [Fact]
    public void ACheckpointResumesOnlyInItsOwnStateMode()
    {
        CheckpointRun.Ok(1, 1, SaveAt, _root, SaveAt.ToString(), resume: false, stateMode: "bf16");
        var result = MpiHarness.Run(1, "checkpoint-mlp", ["1", Steps.ToString(), _root, "-", "1", Path.Combine(_root, "out.json"), "-1", "0", "0", "adan", "8bit"]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("the checkpoint holds optimizer_state=bf16 and this run has optimizer_state=8bit; resume with optimizer_state=bf16, or start without resuming.",
            result.Describe());
    }

    [Theory]
    [InlineData(4, 2)]
    [InlineData(2, 3)]
    [InlineData(1, 4)]
    public void ResumeAtAnotherWorldSizeContinuesTheRun(int savedRanks, int resumedRanks)
    {
        var full = CheckpointRun.Ok(savedRanks, 1, Steps, _root, SaveAt.ToString(), resume: false);
        var resumed = CheckpointRun.Ok(resumedRanks, 1, Steps, _root, "-", resume: true);
        Assert.Equal(SaveAt, resumed.Start);
        var maxParam = full.Params.Zip(resumed.Params).Max(p => Math.Abs(p.First - p.Second));
        output.WriteLine($"W {savedRanks} -> {resumedRanks}: max |Δparam| = {maxParam:E2}");
        for (var s = 0; s < Steps - SaveAt; s++)
        {
            var expected = full.Losses[SaveAt + s];
            Assert.True(Math.Abs(expected - resumed.Losses[s]) <= 1e-6 + 1e-5 * Math.Abs(expected),
                $"W {savedRanks} -> {resumedRanks}: loss at step {SaveAt + s} is {resumed.Losses[s]}, expected {expected}");
        }
        Assert.Equal(full.Params.Length, resumed.Params.Length);
        for (var i = 0; i < full.Params.Length; i++)
        {
            Assert.True(Math.Abs(full.Params[i] - resumed.Params[i]) <= 2e-5 + 2e-4 * Math.Abs(full.Params[i]),
                $"W {savedRanks} -> {resumedRanks}: parameter {i} is {resumed.Params[i]}, expected {full.Params[i]} (max diff {maxParam:E2})");
        }
    }

    [Fact]
    public async Task ARankKilledWhileSavingLeavesThePreviousCheckpointLatestAndLoadable()
    {
        var output = Path.Combine(_root, "killed.json");
        var killed = MpiHarness.Run(2, "checkpoint-mlp", ["1", Steps.ToString(), _root, "3,6", "0", output, "6"]);
        Assert.True(killed.ExitCode != 0, $"the run should have died:\n{killed.Describe()}");
        Assert.Contains("fault injection", killed.Describe());
        var step6 = CheckpointFiles.StepDirectory(_root, 6);
        Assert.True(Directory.Exists(step6), "rank 1 should have died inside the step-6 save");
        Assert.False(CheckpointFiles.IsCommitted(step6));

        var latest = await new LocalCheckpointCatalog(_root).LatestAsync();
        Assert.Equal(CheckpointFiles.StepDirectory(_root, 3), latest);
        Assert.True(CheckpointVerifier.Verify(_root).Ok);
        var resumed = CheckpointRun.Ok(2, 1, Steps, _root, "-", resume: true);
        Assert.Equal(3, resumed.Start);
        Assert.Equal(Steps - 3, resumed.Losses.Length);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    public void ABackgroundSaveWritesTheSameCheckpointAndResumesBitIdenticalToASynchronousOne(int stage)
    {
        var syncRoot = Directory.CreateDirectory(Path.Combine(_root, "sync")).FullName;
        var asyncRoot = Directory.CreateDirectory(Path.Combine(_root, "async")).FullName;
        var syncFull = CheckpointRun.Ok(2, stage, Steps, syncRoot, SaveAt.ToString(), resume: false);
        var asyncFull = CheckpointRun.Ok(2, stage, Steps, asyncRoot, SaveAt.ToString(), resume: false, background: true);
        // Saving in the background must not disturb training, and must write the very same bytes.
        Assert.Equal(syncFull.Losses, asyncFull.Losses);
        Assert.Equal(syncFull.Params, asyncFull.Params);
        var syncShards = CheckpointManifest.Read(CheckpointFiles.StepDirectory(syncRoot, SaveAt)).Shards;
        var asyncShards = CheckpointManifest.Read(CheckpointFiles.StepDirectory(asyncRoot, SaveAt)).Shards;
        Assert.Equal(syncShards.Select(s => (s.Bytes, s.Sha256)), asyncShards.Select(s => (s.Bytes, s.Sha256)));

        var syncResumed = CheckpointRun.Ok(2, stage, Steps, syncRoot, "-", resume: true);
        var asyncResumed = CheckpointRun.Ok(2, stage, Steps, asyncRoot, "-", resume: true, background: true);
        Assert.Equal(SaveAt, asyncResumed.Start);
        Assert.Equal(syncResumed.Losses, asyncResumed.Losses);
        Assert.Equal(syncResumed.Params, asyncResumed.Params);
        Assert.Equal(syncResumed.State, asyncResumed.State);
        Assert.Equal(syncFull.Params, asyncResumed.Params);
    }

    [Fact]
    public async Task ARankKilledWhileItsBackgroundWriteRunsLeavesThePreviousCheckpointLatest()
    {
        var output = Path.Combine(_root, "killed.json");
        var killed = MpiHarness.Run(2, "checkpoint-mlp", ["1", Steps.ToString(), _root, "3,6", "0", output, "6", "1"]);
        Assert.True(killed.ExitCode != 0, $"the run should have died:\n{killed.Describe()}");
        Assert.Contains("fault injection", killed.Describe());
        var step6 = CheckpointFiles.StepDirectory(_root, 6);
        Assert.True(Directory.Exists(step6), "rank 1 should have died inside the step-6 background write");
        Assert.False(CheckpointFiles.IsCommitted(step6));

        Assert.Equal(CheckpointFiles.StepDirectory(_root, 3), await new LocalCheckpointCatalog(_root).LatestAsync());
        Assert.True(CheckpointVerifier.Verify(_root).Ok);
        var resumed = CheckpointRun.Ok(2, 1, Steps, _root, "-", resume: true, background: true);
        Assert.Equal(3, resumed.Start);
        Assert.Equal(Steps - 3, resumed.Losses.Length);
    }

    /// <summary>
    /// A GPU run's saves and loads pass through host staging; forced on CPU tensors, the synchronous and the background
    /// save through it write the very bytes of a direct save, and a run resumed through it is the run resumed directly.
    /// </summary>
    [Theory]
    [InlineData(1, false)]
    [InlineData(1, true)]
    [InlineData(0, true)]
    public void SavesAndLoadsThroughHostStagingWriteTheSameBytesAndResumeTheSameRun(int stage, bool background)
    {
        var directRoot = Directory.CreateDirectory(Path.Combine(_root, "direct")).FullName;
        var stagedRoot = Directory.CreateDirectory(Path.Combine(_root, "staged")).FullName;
        var direct = CheckpointRun.Ok(2, stage, Steps, directRoot, SaveAt.ToString(), resume: false);
        var staged = CheckpointRun.Ok(2, stage, Steps, stagedRoot, SaveAt.ToString(), resume: false, background, staged: true);
        Assert.Equal(direct.Params, staged.Params);
        var directShards = CheckpointManifest.Read(CheckpointFiles.StepDirectory(directRoot, SaveAt)).Shards;
        var stagedShards = CheckpointManifest.Read(CheckpointFiles.StepDirectory(stagedRoot, SaveAt)).Shards;
        Assert.Equal(directShards.Select(s => (s.Bytes, s.Sha256)), stagedShards.Select(s => (s.Bytes, s.Sha256)));

        var resumed = CheckpointRun.Ok(2, stage, Steps, stagedRoot, "-", resume: true, background, staged: true);
        Assert.Equal(SaveAt, resumed.Start);
        Assert.Equal(direct.Losses[SaveAt..], resumed.Losses);
        Assert.Equal(direct.Params, resumed.Params);
        Assert.Equal(direct.State, resumed.State);
    }

    /// <summary>Resharding reads other ranks' shards into the host staging: at W 2 → 3 it gives what the direct load gives.</summary>
    [Fact]
    public void ResumeThroughHostStagingAtAnotherWorldSizeIsTheDirectResume()
    {
        CheckpointRun.Ok(2, 1, Steps, _root, SaveAt.ToString(), resume: false, staged: true);
        var direct = CheckpointRun.Ok(3, 1, Steps, _root, "-", resume: true);
        var staged = CheckpointRun.Ok(3, 1, Steps, _root, "-", resume: true, staged: true);
        Assert.Equal(SaveAt, staged.Start);
        Assert.Equal(direct.Losses, staged.Losses);
        Assert.Equal(direct.Params, staged.Params);
        Assert.Equal(direct.State, staged.State);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    // The four gathered state buffers without their tail padding, which depends on W: the wide MLP's parameters end at
    // element 8,197 at every W (their offsets are block-aligned and W-independent).
    private static float[][] ParameterState(float[] state) =>
        [.. Enumerable.Range(0, 4).Select(b => state.AsSpan(b * state.Length / 4, 8197).ToArray())];
}
