using Adan.Sharded.Training.Data;

namespace Adan.Worker.Tests.Data;

public class ImageDatasetTests
{
    private static ImageDataset Ramp(int count)
    {
        // Image i: pixel (y, x) = x + 4y + i, so shifts and flips are visible in the values.
        var pixels = new byte[count * 16];
        for (var i = 0; i < count; i++)
        {
            for (var p = 0; p < 16; p++)
            {
                pixels[i * 16 + p] = (byte)(p + i);
            }
        }
        return new ImageDataset(pixels, Enumerable.Range(0, count).Select(i => (byte)(i % 10)).ToArray(), 4, 4, mean: 0, std: 1 / 255f);
    }

    [Fact]
    public void BatchGathersInIndexOrderAndReusesItsBuffer()
    {
        using var data = Ramp(5);
        var (x1, y1) = data.Batch([3, 1]);
        Assert.Equal(new long[] { 2, 1, 4, 4 }, x1.shape);
        Assert.Equal(new long[] { 3, 1 }, y1.data<long>().ToArray());
        Assert.Equal(3f + 5, x1[0, 0, 1, 1].item<float>(), 3);

        var (x2, _) = data.Batch([4]);
        Assert.Equal(new long[] { 1, 1, 4, 4 }, x2.shape);
        // The second batch overwrote the first's storage: one buffer, no per-step allocation.
        Assert.Equal(4f, x1[0, 0, 0, 0].item<float>(), 3);
        x1.Dispose();
        Assert.Equal(4f, x2[0, 0, 0, 0].item<float>(), 3);
    }

    [Fact]
    public void BatchRejectsIndicesOutOfRange()
    {
        using var data = Ramp(2);
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Batch([2]));
    }

    [Fact]
    public void AugmentationIsDeterministicPerEpochAndSample()
    {
        var augmentation = new ImageAugmentation(seed: 3);
        Assert.Equal(augmentation.Draw(1, 42), new ImageAugmentation(seed: 3).Draw(1, 42));
        var draws = Enumerable.Range(0, 200).Select(i => augmentation.Draw(0, i)).ToList();
        Assert.All(draws, d => Assert.InRange(d.Dx, -2, 2));
        Assert.All(draws, d => Assert.InRange(d.Dy, -2, 2));
        Assert.Equal(5, draws.Select(d => d.Dx).Distinct().Count());
        Assert.InRange(draws.Count(d => d.Flip), 60, 140);
        Assert.NotEqual(
            Enumerable.Range(0, 20).Select(i => augmentation.Draw(0, i)),
            Enumerable.Range(0, 20).Select(i => augmentation.Draw(1, i)));
    }

    [Fact]
    public void ApplyShiftsFlipsAndPads()
    {
        byte[] source = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        var lookup = Enumerable.Range(0, 256).Select(v => (float)v).ToArray();
        var destination = new float[9];

        ImageAugmentation.Apply(source, destination, 3, 3, dx: 1, dy: 0, flip: false, lookup, fill: -1);
        Assert.Equal(new float[] { 2, 3, -1, 5, 6, -1, 8, 9, -1 }, destination);

        ImageAugmentation.Apply(source, destination, 3, 3, dx: 0, dy: -1, flip: true, lookup, fill: -1);
        Assert.Equal(new float[] { -1, -1, -1, 3, 2, 1, 6, 5, 4 }, destination);
    }
}
