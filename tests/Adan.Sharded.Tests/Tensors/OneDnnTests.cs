using Adan.Sharded.Tensors;
using TorchSharp;

namespace Adan.Sharded.Tests.Tensors;

/// <summary>
/// The switch reaches libtorch's own flag (read back through libtorch), and with oneDNN off a convolution's backward is
/// exactly repeatable, which the trainer's default relies on.
/// </summary>
public class OneDnnTests
{
    [Fact]
    public void TheSwitchSetsLibtorchsFlagAndConvolutionBackwardRepeatsBitForBitWithoutOneDnn()
    {
        var before = OneDnn.Enabled;
        try
        {
            OneDnn.Enabled = true;
            Assert.True(OneDnn.Enabled);
            OneDnn.Enabled = false;
            Assert.False(OneDnn.Enabled);

            float[] Gradient()
            {
                using var scope = torch.NewDisposeScope();
                torch.manual_seed(5);
                using var conv = torch.nn.Conv2d(4, 4, 3, padding: 1);
                var x = torch.randn(4, 4, 8, 8);
                conv.call(x).square().sum().backward();
                return conv.weight!.grad!.data<float>().ToArray();
            }

            var first = Gradient();
            Assert.All(first, g => Assert.True(float.IsFinite(g)));
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal(first, Gradient());
            }
        }
        finally
        {
            OneDnn.Enabled = before;
        }
    }
}
