namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>One W = 2 checkpoint of the MLP after 4 steps, shared by the integrity and export tests (which copy it before altering it).</summary>
public sealed class SavedCheckpointFixture : IDisposable
{
    public const int Steps = 4;

    public SavedCheckpointFixture()
    {
        Root = Directory.CreateTempSubdirectory("adan-ckpt-saved-").FullName;
        Run = CheckpointRun.Ok(2, 1, Steps, Root, Steps.ToString(), resume: false);
    }

    public string Root { get; }

    internal CheckpointRun Run { get; }

    public string CheckpointDirectory => Adan.Sharded.Checkpoints.CheckpointFiles.StepDirectory(Root, Steps);

    /// <summary>A private copy of the checkpoint directory for a test to damage.</summary>
    public string Copy()
    {
        var copy = Directory.CreateTempSubdirectory("adan-ckpt-copy-").FullName;
        foreach (var file in Directory.EnumerateFiles(CheckpointDirectory))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }
        return copy;
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
