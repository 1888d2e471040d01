using Adan.Sharded.Flat;
using Adan.Sharded.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.Sharded.Tests.Flat;

public class FlatParametersTests
{
    private static nn.Module<Tensor, Tensor> Mlp(long seed)
    {
        manual_seed(seed);
        return nn.Sequential(("fc1", nn.Linear(5, 7)), ("act", nn.Tanh()), ("fc2", nn.Linear(7, 3)));
    }

    [Fact]
    public void ParametersBecomeViewsAndKeepTheirValues()
    {
        using var model = Mlp(1);
        var before = model.named_parameters().Select(p => (p.name, p.parameter.detach().clone())).ToList();
        using var flat = FlatParameters.FromModule(model, worldSize: 3);
        var after = model.named_parameters().ToList();
        Assert.Equal(before.Select(b => b.name), after.Select(a => a.name));
        for (var i = 0; i < before.Count; i++)
        {
            Assert.True(before[i].Item2.eq(after[i].parameter).all().item<bool>(), $"{before[i].name} changed value");
            var entry = flat.Layout.Entries[i];
            Assert.Equal(TensorMemory.DataPointer(flat.Values) + (nint)(entry.Offset * 4), TensorMemory.DataPointer(after[i].parameter));
            Assert.Equal(0, entry.Offset % FlatLayout.DefaultAlignment);
        }
        Assert.Equal(0, flat.Layout.TotalNumel % (3 * FlatLayout.DefaultAlignment));
    }

    [Fact]
    public void FrozenParametersStayOutOfTheLayoutAndKeepTheirOwnStorage()
    {
        using var model = Mlp(3);
        foreach (var (name, parameter) in model.named_parameters().Where(p => p.name.StartsWith("fc1.", StringComparison.Ordinal)))
        {
            parameter.requires_grad = false;
        }
        var frozenBefore = model.named_parameters().First().parameter.detach().clone();
        using var flat = FlatParameters.FromModule(model, worldSize: 2);
        Assert.Equal(["fc2.weight", "fc2.bias"], flat.Layout.Entries.Select(e => e.Name));
        Assert.Equal(["fc1.weight", "fc1.bias"], FlatParameters.Frozen(model).Select(p => p.Name));
        using var x = randn(4, 5);
        flat.ZeroGrad();
        model.forward(x).pow(2).sum().backward();
        var frozen = FlatParameters.Frozen(model)[0].Parameter;
        Assert.Null(frozen.grad);
        Assert.True(frozen.eq(frozenBefore).all().item<bool>());
        Assert.True(flat.Gradients.abs().sum().item<float>() > 0, "the trainable layer's gradients are in the flat buffer");

        foreach (var (_, parameter) in model.named_parameters())
        {
            parameter.requires_grad = false;
        }
        Assert.Contains("nothing to train", Assert.Throws<ArgumentException>(() => FlatParameters.FromModule(model, 1)).Message);
    }

    [Fact]
    public void BackwardWritesGradientsIntoTheFlatBuffer()
    {
        using var model = Mlp(2);
        using var flat = FlatParameters.FromModule(model, worldSize: 2);
        using var x = randn(4, 5);
        for (var pass = 0; pass < 2; pass++)
        {
            flat.ZeroGrad();
            model.forward(x).pow(2).sum().backward();
            flat.GatherGradients();
        }
        using var reference = Mlp(2);
        reference.forward(x).pow(2).sum().backward();
        var refs = reference.parameters().ToList();
        for (var i = 0; i < refs.Count; i++)
        {
            var e = flat.Layout.Entries[i];
            using var slice = flat.Gradients!.narrow(0, e.Offset, e.Numel).view(e.Shape);
            Assert.True(slice.allclose(refs[i].grad!, rtol: 1e-6, atol: 1e-7), $"{e.Name}: flat gradient differs from autograd's");
            Assert.Equal(TensorMemory.DataPointer(slice), TensorMemory.DataPointer(flat.Parameters[i].grad!));
        }
    }

    [Fact]
    public void UnusedParametersAreReportedWhenTracked()
    {
        manual_seed(3);
        var used = new Parameter(randn(4));
        var unused = new Parameter(randn(2, 2));
        using var flat = new FlatParameters([("used", used), ("unused", unused)], worldSize: 1, trackUnusedParameters: true);
        flat.ZeroGrad();
        (used * 2).sum().backward();
        flat.GatherGradients();
        Assert.Equal([true, false], flat.HasGradient);
        var e = flat.Layout.Entries[0];
        Assert.Equal(new float[] { 2, 2, 2, 2 }, flat.Gradients!.narrow(0, e.Offset, e.Numel).data<float>().ToArray());
    }

    [Fact]
    public void ZeroGradClearsInPlace()
    {
        using var model = Mlp(4);
        using var flat = FlatParameters.FromModule(model, worldSize: 2);
        var address = TensorMemory.DataPointer(flat.Gradients);
        model.forward(ones(1, 5)).sum().backward();
        flat.ZeroGrad();
        Assert.Equal(address, TensorMemory.DataPointer(flat.Gradients));
        Assert.Equal(0f, flat.Gradients.abs().sum().item<float>());
        Assert.All(flat.Parameters, p => Assert.NotNull(p.grad));
    }

    [Fact]
    public void DecommittingKeepsTheBlockAndBackwardWritesTheRestAgain()
    {
        // 4 Mi elements span 8 huge pages, so the test sees whole huge pages returned, not just an edge.
        var weight = new Parameter(zeros(2048, 2048));
        using var flat = new FlatParameters([("weight", weight)], worldSize: 2);
        var bytes = 4 * flat.Layout.TotalNumel;
        flat.Gradients.fill_(1f);
        Assert.True(flat.ResidentGradientBytes >= bytes, $"resident {flat.ResidentGradientBytes} < {bytes} after writing");
        var address = TensorMemory.DataPointer(flat.Gradients);

        // Elements [1.2 M, 2.2 M): bytes [4.8 MB, 8.8 MB), inside huge pages 2 to 4 ([4, 10) MiB).
        const long keepStart = 1_200_000, keepLength = 1_000_000;

        flat.DecommitGradients(keepStart, keepLength);

        // Exactly the block's huge pages stay: the code returns whole huge pages only (khugepaged cannot refill them).
        const long hugePage = 2L << 20;
        Assert.Equal(3 * hugePage, flat.ResidentGradientBytes);
        Assert.Equal((double)keepLength, flat.Gradients.narrow(0, keepStart, keepLength).sum().item<float>(), 1e-3);
        flat.ZeroGrad();
        Assert.Equal(0f, flat.Gradients.abs().sum().item<float>());
        (weight * 3).sum().backward();
        Assert.Equal(address, TensorMemory.DataPointer(flat.Gradients));
        Assert.Equal(3.0 * flat.Layout.ParameterNumel, flat.Gradients.sum().item<float>(), 1e-3);
    }

    [Fact]
    public void LayoutRoundTripsThroughJson()
    {
        var layout = FlatLayout.Build([("a", [3L, 4L]), ("b", [5L]), ("c", [2L, 2L, 3L])], worldSize: 3);
        var json = layout.ToJson();
        var back = FlatLayout.FromJson(json);
        Assert.Equal(layout.Entries, back.Entries);
        Assert.Equal(layout.TotalNumel, back.TotalNumel);
        Assert.Equal(json, back.ToJson());
        Assert.Contains("\"total_numel\"", json);
        Assert.Equal(new long[] { 0, 16, 32 }, layout.Entries.Select(e => e.Offset));
        Assert.Equal(48, layout.TotalNumel);
        Assert.Equal(16, layout.ShardSize);
        Assert.Equal(48 - 29, layout.PaddingNumel);
    }

    [Fact]
    public void ATamperedLayoutIsRefused()
    {
        var json = FlatLayout.Build([("a", [3L, 4L]), ("b", [5L])], worldSize: 2).ToJson().Replace("\"offset\": 16", "\"offset\": 12");
        var e = Assert.Throws<InvalidDataException>(() => FlatLayout.FromJson(json));
        Assert.Contains("'b'", e.Message);
    }
}
