using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Adan.Sharded.Threading;

/// <summary>
/// A synchronization context whose posted work runs on the one thread that pumps it (<see cref="RunUntilComplete"/>),
/// so that every <c>await</c> of code started on that thread resumes there instead of on a thread-pool thread.
/// </summary>
/// <remarks>
/// Work posted after <see cref="Complete"/> (a stray continuation of something the finished body started and did not
/// await) goes to the thread pool rather than being lost.
/// </remarks>
internal sealed class SingleThreadSynchronizationContext : SynchronizationContext, IDisposable
{
    private readonly BlockingCollection<(SendOrPostCallback Callback, object? State)> _queue = [];
    private readonly int _threadId = Environment.CurrentManagedThreadId;

    /// <inheritdoc />
    public override void Post(SendOrPostCallback d, object? state)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (!TryEnqueue(d, state))
        {
            ThreadPool.QueueUserWorkItem(static s => s.Callback(s.State), (Callback: d, State: state), preferLocal: false);
        }
    }

    /// <inheritdoc />
    public override void Send(SendOrPostCallback d, object? state)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (Environment.CurrentManagedThreadId == _threadId)
        {
            d(state);
            return;
        }
        using var done = new ManualResetEventSlim();
        ExceptionDispatchInfo? failure = null;
        Post(_ =>
        {
            try
            {
                d(state);
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
            finally
            {
                done.Set();
            }
        }, null);
        done.Wait();
        failure?.Throw();
    }

    /// <inheritdoc />
    public override SynchronizationContext CreateCopy() => this;

    /// <summary>Runs posted work on the calling thread (the one that created the context) until <see cref="Complete"/>.</summary>
    public void RunUntilComplete()
    {
        if (Environment.CurrentManagedThreadId != _threadId)
        {
            throw new InvalidOperationException("the context is pumped by the thread that created it.");
        }
        foreach (var (callback, state) in _queue.GetConsumingEnumerable())
        {
            callback(state);
        }
    }

    /// <summary>Ends <see cref="RunUntilComplete"/> once the work already posted has run.</summary>
    public void Complete() => _queue.CompleteAdding();

    /// <inheritdoc />
    public void Dispose() => _queue.Dispose();

    private bool TryEnqueue(SendOrPostCallback d, object? state)
    {
        try
        {
            return _queue.TryAdd((d, state));
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            // Adding has completed (or the pump is gone): the thread no longer runs posted work.
            return false;
        }
    }
}
