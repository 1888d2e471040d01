using System.Buffers.Binary;
using System.Net;

namespace Adan.TestSupport;

/// <summary>
/// A gRPC request body whose frame announces <paramref name="claimedBytes"/> but whose bytes stop after the first
/// <paramref name="sentBeforeHold"/> until <see cref="Release"/>: a server that reads the whole message before refusing it
/// cannot answer while the body is held.
/// </summary>
public sealed class HeldGrpcBody(int claimedBytes, int sentBeforeHold = 16 * 1024) : HttpContent
{
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Whether the rest of the body was let go.</summary>
    public bool Released => _release.Task.IsCompleted;

    /// <summary>Lets the rest of the announced bytes go.</summary>
    public void Release() => _release.TrySetResult();

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        var header = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(1), (uint)claimedBytes);
        await stream.WriteAsync(header);
        await stream.WriteAsync(new byte[sentBeforeHold]);
        await stream.FlushAsync();
        await _release.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var chunk = new byte[1024 * 1024];
        for (var sent = sentBeforeHold; sent < claimedBytes; sent += chunk.Length)
        {
            await stream.WriteAsync(chunk.AsMemory(0, Math.Min(chunk.Length, claimedBytes - sent)));
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }
}
