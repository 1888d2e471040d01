using System.Diagnostics;
using Adan.Sharded.Checkpoints;
using Xunit.Abstractions;

namespace Adan.Sharded.Tests.Checkpoints.Fuzz;

/// <summary>
/// The manifest reader under thousands of seeded mutations of a valid manifest, read as <c>adan checkpoint verify</c>
/// reads it (manifest, rules, layout, every shard): it either accepts the checkpoint, as valid or with a shard problem
/// naming the file, or refuses it with a <see cref="CheckpointException"/> naming the file. Nothing else.
/// </summary>
public sealed class ManifestFuzzTests(ITestOutputHelper output) : IDisposable
{
    private const int Cases = 3000;

    private readonly string _directory = SmallCheckpoint.ScratchDirectory("adan-fuzz-manifest-");

    [Fact]
    public void MutatedManifestsAreAcceptedOrRefusedNamingTheFile()
    {
        SmallCheckpoint.Write(_directory);
        var manifestPath = Path.Combine(_directory, CheckpointManifest.FileName);
        var valid = File.ReadAllBytes(manifestPath);
        Assert.True(CheckpointVerifier.Verify(_directory).Ok);
        var random = new Random(20240602);
        int valids = 0, problems = 0, refused = 0;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Cases; i++)
        {
            var (bytes, what) = Mutations.Apply(valid, textStart: 0, random);
            File.WriteAllBytes(manifestPath, bytes);
            try
            {
                // What every reader does first; only a manifest that passes is worth verifying against the shards.
                CheckpointManifest.Read(_directory).ReadLayout(manifestPath);
                var result = CheckpointVerifier.Verify(_directory);
                if (result.Ok)
                {
                    valids++;
                }
                else
                {
                    Assert.True(result.FirstProblem!.Contains(_directory, StringComparison.Ordinal), $"case {i} ({what}): {result.FirstProblem}");
                    problems++;
                }
            }
            catch (CheckpointException e)
            {
                Assert.True(e.Message.Contains(_directory, StringComparison.Ordinal), $"case {i} ({what}): the refusal does not name the file: {e.Message}");
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"case {i} ({what}): {e.GetType().Name} instead of a CheckpointException: {e.Message}\n{e.StackTrace}");
            }
        }
        output.WriteLine($"{Cases} mutations: {valids} still valid, {problems} with a shard problem, {refused} refused, {clock.ElapsedMilliseconds} ms");
        Assert.True(refused > Cases / 2, $"only {refused} of {Cases} mutations were refused: the mutations are too gentle to test anything");
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
