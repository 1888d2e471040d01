using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;

namespace Adan.Sharded.Tests.DataParallel;

/// <summary>The bookkeeping that decides when a gradient bucket may be launched, without tensors or MPI.</summary>
public class BucketReadinessTests
{
    // Parameters 0..3; buckets in launch order: {3}, {2}, {0, 1}.
    private static readonly GradientBucket[] s_buckets = [new(30, 10, 3, 3), new(20, 10, 2, 2), new(0, 20, 0, 1)];

    [Fact]
    public void ABucketLaunchesOnceEveryModuleOwningItsParametersIsDone()
    {
        // Module 0 owns parameters 0 and 1, module 1 parameter 2, module 2 parameter 3.
        var readiness = new BucketReadiness(s_buckets, 4, [[0, 1], [2], [3]]);
        var launch = new List<int>();
        readiness.Called(0);
        readiness.Called(1);
        readiness.Called(2);
        readiness.Done(2, launch);
        Assert.Equal([0], launch);
        readiness.Done(1, launch);
        Assert.Equal([0, 1], launch);
        readiness.Done(0, launch);
        Assert.Equal([0, 1, 2], launch);
        Assert.Equal(3, readiness.Launched);
    }

    [Fact]
    public void AModuleCalledTwiceIsDoneAfterBothCallsGradients()
    {
        var readiness = new BucketReadiness(s_buckets, 4, [[0, 1], [2], [3]]);
        var launch = new List<int>();
        readiness.Called(2);
        readiness.Called(2);
        readiness.Done(2, launch);
        Assert.Empty(launch);
        readiness.Done(2, launch);
        Assert.Equal([0], launch);
    }

    [Fact]
    public void ATiedParameterWaitsForEveryModuleThatOwnsIt()
    {
        // Parameter 3 is owned by modules 2 and 3 (a tied embedding and head).
        var readiness = new BucketReadiness(s_buckets, 4, [[0, 1], [2], [3], [3]]);
        var launch = new List<int>();
        readiness.Called(3);
        readiness.Called(2);
        readiness.Done(2, launch);
        Assert.Empty(launch);
        readiness.Done(3, launch);
        Assert.Equal([0], launch);
    }

    [Fact]
    public void BucketsLaunchInTheSharedOrderEvenWhenCompletedOutOfIt()
    {
        var readiness = new BucketReadiness(s_buckets, 4, [[0, 1], [2], [3]]);
        var launch = new List<int>();
        readiness.Called(0);
        readiness.Called(1);
        readiness.Called(2);
        readiness.Done(1, launch);
        readiness.Done(0, launch);
        Assert.Empty(launch);
        readiness.Done(2, launch);
        Assert.Equal([0, 1, 2], launch);
        Assert.Equal([1, 2, 0], readiness.ObservedOrder);

        readiness.UseOrder(readiness.ObservedOrder.ToArray());
        readiness.Begin();
        launch.Clear();
        readiness.Called(0);
        readiness.Called(1);
        readiness.Called(2);
        readiness.Done(1, launch);
        Assert.Equal([1], launch);
    }

    [Fact]
    public void UntrackedCallsAndUnusedModulesWaitForTheEndOfBackward()
    {
        // Module 0 was called but its input needed no gradient (no Done ever comes); module 2 was never called.
        var readiness = new BucketReadiness(s_buckets, 4, [[0, 1], [2], [3]]);
        var launch = new List<int>();
        readiness.Called(0);
        readiness.Called(1);
        readiness.Done(1, launch);
        Assert.Empty(launch);
        readiness.LaunchRemaining(launch);
        Assert.Equal([0, 1, 2], launch);
        Assert.Equal(3, readiness.Launched);
    }

    [Fact]
    public void ParametersOfNoModuleWaitForTheEndOfBackward()
    {
        var readiness = new BucketReadiness(s_buckets, 4, [[0, 1], [2]]);
        var launch = new List<int>();
        readiness.Called(0);
        readiness.Called(1);
        readiness.Done(1, launch);
        readiness.Done(0, launch);
        Assert.Empty(launch);
    }

    [Fact]
    public void ALaunchOrderMustNameEveryBucketOnce()
    {
        var readiness = new BucketReadiness(s_buckets, 4, [[0, 1], [2], [3]]);
        Assert.Throws<ArgumentException>(() => readiness.UseOrder([0, 0, 1]));
        Assert.Throws<ArgumentException>(() => readiness.UseOrder([0, 1]));
    }

    [Fact]
    public void BucketsInGradientOrderTileTheBufferFromTheEndAtParameterBoundaries()
    {
        // Numels 100, 7, 30, 5 with alignment 4: offsets 0, 100, 108, 140; 145 elements padded to 152 (8 = W × alignment).
        var layout = FlatLayout.Build([("a", [100]), ("b", [7]), ("c", [30]), ("d", [5])], 2, alignment: 4);
        Assert.Equal(152, layout.TotalNumel);
        var buckets = GradientBuckets.InGradientOrder(layout, bucketBytes: 40 * sizeof(float), alignment: 4);
        Assert.Equal(layout.TotalNumel, buckets.Sum(b => b.Length));
        Assert.Equal(layout.TotalNumel, buckets[0].End);
        for (var i = 1; i < buckets.Count; i++)
        {
            Assert.Equal(buckets[i - 1].Start, buckets[i].End);
        }
        Assert.Equal(0, buckets[^1].Start);
        // d with the tail padding (12) would not fit with c (44 > 40); c and b fit one bucket of 40; a (100) is cut into
        // pieces of 40 from its end.
        Assert.Equal(
            [new GradientBucket(140, 12, 3, 3), new GradientBucket(100, 40, 1, 2), new GradientBucket(60, 40, 0, 0), new GradientBucket(20, 40, 0, 0),
                new GradientBucket(0, 20, 0, 0)],
            buckets);
    }
}
