using Grpc.Core;

namespace Adan.Coordinator.Client;

/// <summary>Retries a call on <see cref="StatusCode.Unavailable"/> with exponential backoff and jitter.</summary>
/// <remarks>
/// Only Unavailable is retried: it means the call did not reach a handler (coordinator restarting, connection
/// refused), and every coordinator RPC is idempotent for a retried identical request anyway. Other codes are
/// answers and go straight to the caller. Jitter keeps hundreds of ranks from reconnecting in lockstep.
/// </remarks>
internal sealed class RetryPolicy(int maxAttempts, TimeSpan initialBackoff, TimeSpan maxBackoff, TimeSpan callTimeout)
{
    /// <param name="call">One attempt, given its deadline.</param>
    /// <param name="cancellationToken">Cancels the attempts and the waits between them.</param>
    /// <param name="retryDeadlineExceeded">Also retry an attempt that ran out of its deadline; only for calls whose repeat is harmless even after they took effect.</param>
    public async Task<T> RunAsync<T>(Func<DateTime, CancellationToken, Task<T>> call, CancellationToken cancellationToken, bool retryDeadlineExceeded = false)
    {
        var backoff = initialBackoff;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call(DateTime.UtcNow + callTimeout, cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException e) when ((e.StatusCode == StatusCode.Unavailable || retryDeadlineExceeded && e.StatusCode == StatusCode.DeadlineExceeded)
                && attempt < maxAttempts && !cancellationToken.IsCancellationRequested)
            {
                var jittered = backoff * (0.8 + 0.4 * Random.Shared.NextDouble());
                await Task.Delay(jittered, cancellationToken).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(maxBackoff.Ticks, backoff.Ticks * 2));
            }
        }
    }
}
