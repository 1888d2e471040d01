using Adan.Sharded.IO;

namespace Adan.Sharded.Tests.Checkpoints;

/// <summary>
/// <see cref="AtomicFile.CreateNewText"/>, which commits every manifest: racing creators released together by a
/// barrier, round after round, on disk and on tmpfs; exactly one wins each round, the file holds the winner's
/// complete text, and an existing file is never replaced.
/// </summary>
public sealed class AtomicCreateTests : IDisposable
{
    private const int Racers = 8;
    private const int Rounds = 200;

    private readonly List<string> _directories = [];

    public static TheoryData<string> Places => OperatingSystem.IsLinux() && Directory.Exists("/dev/shm") ? ["temp", "shm"] : ["temp"];

    [Theory]
    [MemberData(nameof(Places))]
    public void RacingCreatorsHaveExactlyOneWinnerWhoseTextIsComplete(string place)
    {
        var directory = Scratch(place);
        using var barrier = new Barrier(Racers);
        var winners = new int[Rounds];
        var threads = Enumerable.Range(0, Racers).Select(racer => new Thread(() =>
        {
            for (var round = 0; round < Rounds; round++)
            {
                barrier.SignalAndWait();
                try
                {
                    AtomicFile.CreateNewText(Path.Combine(directory, $"manifest-{round}.json"), Text(racer, round));
                    Interlocked.Increment(ref winners[round]);
                }
                catch (IOException)
                {
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        for (var round = 0; round < Rounds; round++)
        {
            Assert.True(winners[round] == 1, $"round {round}: {winners[round]} creators won");
            var text = File.ReadAllText(Path.Combine(directory, $"manifest-{round}.json"));
            Assert.Contains(Enumerable.Range(0, Racers), racer => text == Text(racer, round));
        }
        Assert.Empty(Directory.GetFiles(directory, "*.tmp"));
    }

    [Theory]
    [MemberData(nameof(Places))]
    public void AnExistingFileIsNeverReplaced(string place)
    {
        var path = Path.Combine(Scratch(place), "manifest.json");
        File.WriteAllText(path, "first");

        Assert.Throws<IOException>(() => AtomicFile.CreateNewText(path, "second"));

        Assert.Equal("first", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!));
    }

    public void Dispose()
    {
        foreach (var directory in _directories)
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    // Long enough that a torn write would show.
    private static string Text(int racer, int round) => $"{{\"racer\": {racer}, \"round\": {round}, \"pad\": \"{new string((char)('a' + racer), 8192)}\"}}";

    private string Scratch(string place)
    {
        var directory = place == "shm"
            ? Directory.CreateDirectory(Path.Combine("/dev/shm", "adan-atomic-" + Guid.NewGuid().ToString("N"))).FullName
            : Directory.CreateTempSubdirectory("adan-atomic-").FullName;
        _directories.Add(directory);
        return directory;
    }
}
