using Adan.Sharded.Optim;
using Adan.Sharded.Threading;
using TorchSharp;

namespace Adan.Sharded.Tests.Threading;

/// <summary>
/// <see cref="ComputeThread"/>: work that awaits something completing on another thread still resumes on the one
/// compute thread, which keeps the configured torch thread count; results and failures come back to the caller.
/// </summary>
/// <remarks>
/// The count is one more than the machine's cores, which is no thread's default (OpenMP's is the cores), so a
/// continuation that resumed on a thread-pool thread would show.
/// </remarks>
public class ComputeThreadTests
{
    private static readonly int s_configured = Environment.ProcessorCount + 1;

    [Fact]
    public void EveryAwaitResumesOnTheComputeThreadWithTheConfiguredThreadCount()
    {
        var seen = ComputeThread.Run(s_configured, async () =>
        {
            var observations = new List<(int Thread, (int Min, int Max)? Native)> { (Environment.CurrentManagedThreadId, NativeThreadCounts.Range()) };
            for (var i = 0; i < 5; i++)
            {
                // Each completes on a timer or thread-pool thread, never synchronously.
                await Task.Delay(5);
                observations.Add((Environment.CurrentManagedThreadId, NativeThreadCounts.Range()));
                await Task.Run(() => Thread.Sleep(1));
                observations.Add((Environment.CurrentManagedThreadId, NativeThreadCounts.Range()));
                await Task.Yield();
                observations.Add((Environment.CurrentManagedThreadId, NativeThreadCounts.Range()));
            }
            return observations;
        });

        Assert.Equal(16, seen.Count);
        Assert.Single(seen.Select(o => o.Thread).Distinct());
        Assert.NotEqual(Environment.CurrentManagedThreadId, seen[0].Thread);
        // OpenMP's and MKL's own counts: torch.get_num_threads would bind the thread it asks on.
        Assert.All(seen, o => Assert.Equal((s_configured, s_configured), o.Native));
        Assert.Equal(s_configured, AdanKernel.Threads);
    }

    [Fact]
    public void TorchWorkAfterAnAwaitComputesOnTheComputeThread()
    {
        var (sum, thread, before) = ComputeThread.Run(s_configured, async () =>
        {
            var start = Environment.CurrentManagedThreadId;
            await Task.Delay(5);
            using var a = torch.ones(64, 64);
            using var product = a.matmul(a);
            return (product.sum().item<float>(), Environment.CurrentManagedThreadId, start);
        });

        Assert.Equal(64f * 64 * 64, sum);
        Assert.Equal(before, thread);
    }

    [Fact]
    public void AFailureOfTheBodyIsRethrownToTheCallerAsItself()
    {
        var error = Assert.Throws<InvalidDataException>(() => ComputeThread.Run(1, async () =>
        {
            await Task.Delay(1);
            throw new InvalidDataException("bad shard");
        }));

        Assert.Equal("bad shard", error.Message);
        Assert.Contains(nameof(AFailureOfTheBodyIsRethrownToTheCallerAsItself), error.StackTrace);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-2)]
    public void AThreadCountBelowOneIsRefused(int threads)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => ComputeThread.Run(threads, () => Task.CompletedTask));
        Assert.Contains($"Invalid thread count: {threads}; it must be 1 or more.", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => NativeThreadDefaults.Apply(threads));
    }
}
