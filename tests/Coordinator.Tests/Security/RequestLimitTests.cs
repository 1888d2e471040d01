using System.Net;
using System.Net.Http.Headers;
using Adan.Coordinator.V1;
using Adan.TestSupport;
using Grpc.Core;

namespace Adan.Coordinator.Tests.Security;

/// <summary>
/// A call is refused on its headers, before its body is read, when it carries no known token or announces a message
/// longer than its method allows (16 MiB for Commit, 64 KiB for everything else).
/// </summary>
public sealed class RequestLimitTests
{
    private const int Claimed = 16 * 1024 * 1024;
    private const int SentBeforeHold = 16 * 1024;

    [Fact]
    public async Task AnUnauthenticated16MiBRequestIsRefusedBeforeItsBodyIsSent()
    {
        await using var c = await TestCoordinator.StartAsync();
        var job = await LegitimateJob.StartAsync(c);
        using var http = new HttpClient(new SocketsHttpHandler());
        var body = new HeldGrpcBody(Claimed, SentBeforeHold);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(c.Address, "/adan.coordinator.v1.Checkpoints/Commit"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = body,
        };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        body.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");

        // The body stops after 16 KiB of the 16 MiB it announces until the test lets it go on: a server that reads the
        // whole message before checking the token cannot answer within the wait.
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(body.Released, "the server answered only after the whole body was sent");
        Assert.Equal(((int)StatusCode.Unauthenticated).ToString(System.Globalization.CultureInfo.InvariantCulture),
            Assert.Single(response.Headers.GetValues("grpc-status")));
        Assert.Contains("missing%20token", Assert.Single(response.Headers.GetValues("grpc-message")));
        body.Release();
        await job.AssertIntactAsync();
    }

    [Fact]
    public async Task ARequestOver64KiBIsRefusedExceptACommit()
    {
        await using var c = await TestCoordinator.StartAsync();
        var job = await LegitimateJob.StartAsync(c);
        var error = await Assert.ThrowsAsync<RpcException>(() => c.Checkpoints.BeginAsync(
            new BeginCheckpointRequest { JobId = job.JobId, Step = 11, CheckpointRoot = "/" + new string('d', 100_000) }, job.Headers).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("/adan.coordinator.v1.Checkpoints/Begin request of", error.Status.Detail);
        Assert.Contains("65536 bytes", error.Status.Detail);

        // A commit may carry a large manifest: 200 KiB of worker fields pass the size limit and commit.
        var info = await c.Checkpoints.BeginAsync(new BeginCheckpointRequest { JobId = job.JobId, Step = 12 }, job.Headers);
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(Adan.TestSupport.TestManifests.Create(12, 2).ToJson())!.AsObject();
        manifest["note"] = new string('n', 200 * 1024);
        var committed = await Assert.ThrowsAnyAsync<Exception>(() => c.Checkpoints.CommitAsync(
            new CommitCheckpointRequest { JobId = job.JobId, CheckpointId = info.CheckpointId, ManifestJson = manifest.ToJsonString() }, job.Headers).ResponseAsync);
        // Refused by the catalogue (the shards are missing), not by the size limit: the body was read.
        var rpc = Assert.IsType<RpcException>(committed);
        Assert.Equal(StatusCode.FailedPrecondition, rpc.StatusCode);
        await job.AssertIntactAsync();
    }
}
