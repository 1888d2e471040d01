using Adan.Coordinator.Domain;
using Adan.Coordinator.Services;
using Grpc.Core;

namespace Adan.Coordinator.Tests;

/// <summary>The one mapping from domain refusals to gRPC statuses (the integration tests see it through a server).</summary>
public sealed class DomainErrorInterceptorTests
{
    [Theory]
    [InlineData(nameof(CoordinatorErrorKind.InvalidArgument), StatusCode.InvalidArgument)]
    [InlineData(nameof(CoordinatorErrorKind.NotFound), StatusCode.NotFound)]
    [InlineData(nameof(CoordinatorErrorKind.FailedPrecondition), StatusCode.FailedPrecondition)]
    [InlineData(nameof(CoordinatorErrorKind.AlreadyExists), StatusCode.AlreadyExists)]
    [InlineData(nameof(CoordinatorErrorKind.Internal), StatusCode.Internal)]
    public void EachKindHasItsStatusAndKeepsTheMessage(string kind, StatusCode code)
    {
        var error = DomainErrorInterceptor.ToRpcException(new CoordinatorException(Enum.Parse<CoordinatorErrorKind>(kind), "rank 3 of job 'j' already joined"));
        Assert.Equal(code, error.StatusCode);
        Assert.Equal("rank 3 of job 'j' already joined", error.Status.Detail);
    }

    [Fact]
    public void EveryKindIsMapped()
    {
        Assert.All(Enum.GetValues<CoordinatorErrorKind>().Where(k => k != CoordinatorErrorKind.Internal),
            kind => Assert.NotEqual(StatusCode.Internal, DomainErrorInterceptor.ToStatusCode(kind)));
    }

    [Fact]
    public async Task AUnaryCallsRefusalBecomesItsStatus()
    {
        var interceptor = new DomainErrorInterceptor();
        var error = await Assert.ThrowsAsync<RpcException>(() => interceptor.UnaryServerHandler<string, string>(
            "request", null!, (_, _) => throw CoordinatorException.NotFound("unknown job 'x'")));
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.Equal("unknown job 'x'", error.Status.Detail);
    }
}
