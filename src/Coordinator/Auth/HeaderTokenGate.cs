using System.Buffers;
using System.Buffers.Binary;
using Adan.Coordinator.Protocol;
using Grpc.Core;
using Microsoft.AspNetCore.Http;

namespace Adan.Coordinator.Auth;

/// <summary>
/// Middleware in front of every gRPC handler that refuses a call on its headers and its message's length prefix alone,
/// before its body is read: a request without a known token (<see cref="TokenAuthInterceptor.Authenticate"/>), and a
/// message longer than its method allows (<see cref="CoordinatorLimits.MaxRequestBytes"/>, or
/// <see cref="CoordinatorLimits.MaxMessageBytes"/> for Commit, the one request that carries a manifest).
/// </summary>
/// <remarks>
/// gRPC interceptors run only after the handler has read and parsed the whole message, so on their own an
/// unauthenticated client could make the coordinator buffer 16 MiB per stream. This gate answers trailers-only (HTTP 200,
/// <c>grpc-status</c> in the headers), which every gRPC client reads as an ordinary status; the job-scope check, which
/// needs the job id from the body, stays in <see cref="TokenAuthInterceptor"/>.
/// </remarks>
internal sealed class HeaderTokenGate(RequestDelegate next, TokenAuthInterceptor auth)
{
    private const string CommitMethod = "/adan.coordinator.v1.Checkpoints/Commit";
    // A gRPC message is framed by a compressed flag (1 byte) and its length (4 bytes, big-endian).
    private const int FrameHeaderBytes = 5;

    public async Task InvokeAsync(HttpContext context)
    {
        var method = context.Request.Path.Value ?? "";
        if (!TokenAuthInterceptor.IsExempt(method))
        {
            try
            {
                auth.Authenticate(context.Request.Headers.Authorization.FirstOrDefault(), method,
                    $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}");
            }
            catch (RpcException e)
            {
                await RefuseAsync(context, e.Status);
                return;
            }
        }
        var limit = method == CommitMethod ? CoordinatorLimits.MaxMessageBytes : CoordinatorLimits.MaxRequestBytes;
        if (await MessageLengthAsync(context) is { } length && length > limit)
        {
            await RefuseAsync(context, new Status(StatusCode.ResourceExhausted,
                $"{method} request of {length} bytes refused: the most allowed is {limit} bytes"));
            return;
        }
        await next(context);
    }

    /// <summary>The length prefix of the request's first message, read without consuming it; null when the body ends sooner.</summary>
    private static async Task<long?> MessageLengthAsync(HttpContext context)
    {
        var body = context.Request.BodyReader;
        var read = await body.ReadAtLeastAsync(FrameHeaderBytes, context.RequestAborted);
        var buffer = read.Buffer;
        long? length = null;
        if (buffer.Length >= FrameHeaderBytes)
        {
            Span<byte> header = stackalloc byte[FrameHeaderBytes];
            buffer.Slice(0, FrameHeaderBytes).CopyTo(header);
            length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        }
        // Nothing consumed: the handler reads the message from its first byte.
        body.AdvanceTo(buffer.Start);
        return length;
    }

    private static Task RefuseAsync(HttpContext context, Status status)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/grpc";
        context.Response.Headers["grpc-status"] = ((int)status.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.Headers["grpc-message"] = Uri.EscapeDataString(status.Detail);
        return context.Response.CompleteAsync();
    }
}
