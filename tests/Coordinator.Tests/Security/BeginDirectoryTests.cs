using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using Adan.Coordinator.Client;
using Adan.Coordinator.V1;
using Adan.Sharded.Checkpoints;
using Google.Protobuf;
using Grpc.Net.Client;

namespace Adan.Coordinator.Tests.Security;

/// <summary>
/// A rank writes its shard only into the directory its own root and step imply: a coordinator (or anyone answering in
/// its place) that names another directory in its Begin reply is refused, and nothing is written there.
/// </summary>
public sealed class BeginDirectoryTests : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("adan-begin-dir-").FullName;

    [Theory]
    [InlineData("/etc")]
    [InlineData("another root")]
    [InlineData("another step")]
    [InlineData("dot-dot")]
    public async Task ABeginReplyNamingAnotherDirectoryIsRefused(string answered)
    {
        var root = Path.Combine(_scratch, "run");
        var directory = answered switch
        {
            "/etc" => "/etc",
            "another root" => CheckpointFiles.StepDirectory(Path.Combine(_scratch, "victim"), 7),
            "another step" => CheckpointFiles.StepDirectory(root, 8),
            _ => Path.Combine(root, "..", "victim", "step-0000000007"),
        };
        using var catalog = Catalog(root, directory, out var client);
        await using var _ = client;

        var e = await Assert.ThrowsAsync<CheckpointException>(() => catalog.BeginAsync(7));
        Assert.Contains($"'{directory}'", e.Message);
        Assert.Contains("refusing to write there", e.Message);
    }

    [Fact]
    public async Task TheStepDirectoryOfTheRootIsAcceptedAsGivenOrWithItsLinksResolved()
    {
        var real = Directory.CreateDirectory(Path.Combine(_scratch, "real")).FullName;
        var root = Path.Combine(_scratch, "via-link");
        Directory.CreateSymbolicLink(root, real);
        foreach (var directory in new[] { CheckpointFiles.StepDirectory(root, 7), CheckpointFiles.StepDirectory(real, 7) })
        {
            using var catalog = Catalog(root, directory, out var client);
            await using var _ = client;
            Assert.Equal(directory, (await catalog.BeginAsync(7)).Directory);
        }
    }

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private static CoordinatorCheckpointCatalog Catalog(string root, string answeredDirectory, out CoordinatorClient client)
    {
        var channel = GrpcChannel.ForAddress("http://127.0.0.1:1", new GrpcChannelOptions
        {
            HttpHandler = new BeginAnswer(new CheckpointInfo { CheckpointId = 1, Step = 7, Directory = answeredDirectory, WorldSize = 1, State = CheckpointState.Open }),
        });
        client = new CoordinatorClient(new CoordinatorClientOptions
        {
            Address = new Uri("http://127.0.0.1:1"), Token = "token", JobId = "job", Rank = 0, WorldSize = 1, CallTimeout = TimeSpan.FromSeconds(5),
        }, channel);
        return new CoordinatorCheckpointCatalog(client, root);
    }

    /// <summary>Answers every call with one gRPC message: a coordinator whose Begin reply names a chosen directory.</summary>
    private sealed class BeginAnswer(CheckpointInfo info) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = info.ToByteArray();
            var framed = new byte[5 + body.Length];
            BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), (uint)body.Length);
            body.CopyTo(framed, 5);
            var response = new HttpResponseMessage(HttpStatusCode.OK) { Version = HttpVersion.Version20, Content = new ByteArrayContent(framed) };
            response.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
            response.TrailingHeaders.Add("grpc-status", "0");
            return Task.FromResult(response);
        }
    }
}
