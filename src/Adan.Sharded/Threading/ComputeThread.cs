using System.Runtime.ExceptionServices;
using Adan.Sharded.Optim;
using TorchSharp;

namespace Adan.Sharded.Threading;

/// <summary>
/// Runs a rank's torch work on one dedicated OS thread that owns its thread count: <c>torch.set_num_threads</c> and
/// <see cref="AdanKernel.Threads"/> are set on it, and every <c>await</c> of the body resumes on it (a
/// <see cref="SingleThreadSynchronizationContext"/>), never on whichever thread-pool thread completed the awaited task.
/// </summary>
/// <remarks>
/// <para>
/// Why: OpenMP's thread count is per OS thread. A loop that continues on thread-pool threads after an <c>await</c>
/// (a coordinator call, a checkpoint commit) computes some steps with the configured count and others with OpenMP's
/// default (all cores), which is slower when ranks share a host and changes the floating-point reduction order, so
/// two identical runs ended with different bits. TorchSharp's dispose scopes are per thread too.
/// </para>
/// <para>
/// Code the body awaits may still resume on the pool after its own <c>ConfigureAwait(false)</c> (the checkpoint
/// writers' file and catalogue work); it does no tensor math there, and <see cref="NativeThreadDefaults"/> gives such
/// threads the configured count as their default.
/// </para>
/// </remarks>
public static class ComputeThread
{
    /// <summary>
    /// The compute thread's stack: autograd runs backward on the calling thread on the CPU, and deep graphs recurse
    /// further than the 1.5 MiB of a default .NET thread (the main thread has 8 MiB).
    /// </summary>
    public const int StackBytes = 16 * 1024 * 1024;

    /// <summary>
    /// Runs <paramref name="body"/> to completion on a new thread bound to <paramref name="threads"/> compute threads and
    /// returns its result; an exception of the body is rethrown here with its original stack.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is below 1.</exception>
    public static T Run<T>(int threads, Func<Task<T>> body, string name = "adan-compute")
    {
        ArgumentNullException.ThrowIfNull(body);
        if (threads < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(threads), threads, $"Invalid thread count: {threads}; it must be 1 or more.");
        }
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            var previous = SynchronizationContext.Current;
            using var context = new SingleThreadSynchronizationContext();
            SynchronizationContext.SetSynchronizationContext(context);
            try
            {
                Bind(threads);
                var task = body();
                task.ContinueWith(static (_, c) => ((SingleThreadSynchronizationContext)c!).Complete(), context, CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                context.RunUntilComplete();
                result = task.GetAwaiter().GetResult();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
            finally
            {
                context.Complete();
                SynchronizationContext.SetSynchronizationContext(previous);
            }
        }, StackBytes) { Name = name };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }

    /// <summary>As <see cref="Run{T}(int, Func{Task{T}}, string)"/> for a body without a result.</summary>
    public static void Run(int threads, Func<Task> body, string name = "adan-compute")
    {
        ArgumentNullException.ThrowIfNull(body);
        Run(threads, async () =>
        {
            await body();
            return true;
        }, name);
    }

    /// <summary>
    /// Binds the calling thread to <paramref name="threads"/>: torch's intra-op threads (OpenMP, MKL) and the fused
    /// kernel's.
    /// </summary>
    public static void Bind(int threads)
    {
        torch.set_num_threads(threads);
        AdanKernel.Threads = threads;
    }
}
