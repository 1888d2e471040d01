using System.Runtime.InteropServices;
using Adan.Sharded.Flat;
using Adan.Sharded.Mpi;
using Adan.Sharded.Precision;
using Adan.Sharded.Tensors;
using Adan.Sharded.Tests.MultiRank;
using Adan.TestSupport;
using TorchSharp;
using static TorchSharp.torch;

namespace Adan.Sharded.Tests.Precision;

/// <summary>
/// bf16-mixed on one process: the fp32 master keeps the initial values exactly, the model's parameters are bf16 views of
/// the compute copy except the normalisation's, gradients come out of backward in bf16 and accumulate in fp32, and the
/// MPI backend's bf16 sum rounds as torch does.
/// </summary>
public class MixedPrecisionTests
{
    private static nn.Module<Tensor, Tensor> Model(long seed)
    {
        manual_seed(seed);
        return nn.Sequential(("fc1", nn.Linear(5, 7)), ("norm", nn.LayerNorm(7)), ("act", nn.Tanh()), ("fc2", nn.Linear(7, 3)));
    }

    [Fact]
    public void TheMasterKeepsFp32ValuesAndTheModelComputesInABf16CopyWithNormsInFp32()
    {
        using var model = Model(1);
        var before = model.named_parameters().Select(p => (p.name, p.parameter.detach().clone())).ToList();
        using var flat = FlatParameters.FromModule(model, worldSize: 2, ComputePrecision.Bf16Mixed);

        Assert.True(flat.IsMixedPrecision);
        Assert.Equal(ScalarType.BFloat16, flat.ComputeValues.dtype);
        Assert.Equal(2, flat.Fp32ParameterCount);
        var after = model.named_parameters().ToList();
        for (var i = 0; i < before.Count; i++)
        {
            var entry = flat.Layout.Entries[i];
            using var master = flat.Values.narrow(0, entry.Offset, entry.Numel).view(entry.Shape);
            Assert.True(before[i].Item2.eq(master).all().item<bool>(), $"{before[i].name}: the master must hold the fp32 initial values exactly");
            using var rounded = before[i].Item2.to(ScalarType.BFloat16).to(ScalarType.Float32);
            using var used = after[i].parameter.detach().to(ScalarType.Float32);
            Assert.True(rounded.eq(used).all().item<bool>(), $"{before[i].name}: the model must compute with the master rounded to bf16");
            var isNorm = before[i].name.StartsWith("norm.", StringComparison.Ordinal);
            Assert.Equal(isNorm ? ScalarType.Float32 : ScalarType.BFloat16, after[i].parameter.dtype);
            if (!isNorm)
            {
                Assert.Equal(TensorMemory.DataPointer(flat.ComputeValues) + (nint)(entry.Offset * 2), TensorMemory.DataPointer(after[i].parameter));
            }
        }

        using var x = randn(4, 5);
        using var output = model.call(x);
        Assert.Equal(ScalarType.Float32, output.dtype);
    }

    [Fact]
    public void MicroBatchesAccumulateInTheFp32MasterGradient()
    {
        using var model = Model(2);
        using var flat = FlatParameters.FromModule(model, worldSize: 1, ComputePrecision.Bf16Mixed);
        using var x1 = randn(4, 5);
        using var x2 = randn(4, 5);

        flat.ZeroGrad();
        model.call(x1).square().sum().backward();
        using var first = flat.ComputeGradients.to(ScalarType.Float32);
        flat.AccumulateGradients();
        Assert.Equal(0, flat.ComputeGradients.abs().sum().to(ScalarType.Float32).item<float>());
        model.call(x2).square().sum().backward();
        flat.WidenGradients(0, flat.Layout.TotalNumel);

        // The fp32-kept norm writes the master directly; every other gradient is the sum of the two bf16 ones, in fp32.
        using var expected = first.add(flat.ComputeGradients.to(ScalarType.Float32));
        var normEntries = flat.Layout.Entries.Where(e => e.Name.StartsWith("norm.", StringComparison.Ordinal)).ToList();
        foreach (var e in flat.Layout.Entries.Except(normEntries))
        {
            using var got = flat.Gradients.narrow(0, e.Offset, e.Numel);
            using var want = expected.narrow(0, e.Offset, e.Numel);
            var maxDiff = got.sub(want).abs().max().item<float>();
            Assert.True(maxDiff == 0, $"{e.Name}: max |difference| {maxDiff}");
        }
        foreach (var e in normEntries)
        {
            using var got = flat.Gradients.narrow(0, e.Offset, e.Numel);
            Assert.True(got.abs().sum().item<float>() > 0, $"{e.Name} has no gradient in the master");
        }
    }

    [Fact]
    public void TheMpiBf16SumRoundsAsTorchDoes()
    {
        manual_seed(3);
        using var a = randn(10_000).mul_(100).to(ScalarType.BFloat16);
        using var b = randn(10_000).mul_(0.01).to(ScalarType.BFloat16);
        using var sum = a.to(ScalarType.Float32).add(b.to(ScalarType.Float32)).to(ScalarType.BFloat16);
        var aBits = MemoryMarshal.Cast<byte, ushort>(a.bytes).ToArray();
        var bBits = MemoryMarshal.Cast<byte, ushort>(b.bytes).ToArray();
        var expected = MemoryMarshal.Cast<byte, ushort>(sum.bytes).ToArray();
        var mismatches = 0;
        for (var i = 0; i < aBits.Length; i++)
        {
            var got = BFloat16Sum.Round(BFloat16Sum.Widen(aBits[i]) + BFloat16Sum.Widen(bBits[i]));
            mismatches += got == expected[i] ? 0 : 1;
        }
        Assert.True(mismatches == 0, $"{mismatches} of {aBits.Length} sums rounded otherwise than torch");
    }

    /// <summary>
    /// The device path (tensor-op update) on W ranks over MPI and over NCCL's host-memory stand-in: identical bf16
    /// copies on every rank, the master as a one-process replay (tests/Adan.MultiRank/MixedPrecisionScenario.cs).
    /// </summary>
    [Theory]
    [InlineData(2, "mpi", 1, "fp32", "1")]
    [InlineData(2, "mpi", 2, "bf16", "1")]
    [InlineData(3, "mpi", 0, "bf16", "0")]
    [InlineData(3, "mpi", 1, "bf16", "1")]
    [InlineData(2, "nccl", 1, "bf16", "0")]
    [InlineData(3, "nccl", 2, "fp32", "0")]
    public void OnSeveralRanksTheCopiesAgreeAndTheMasterMatchesOneProcess(int ranks, string backend, int stage, string reduce, string overlap)
    {
        var result = MpiHarness.Run(ranks, "mixed-precision", [backend, stage.ToString(), reduce, overlap],
            environment: backend == "nccl" ? NcclStandIn.Environment() : null);
        Assert.True(result.ExitCode == 0, result.Describe());
        for (var r = 0; r < ranks; r++)
        {
            Assert.Contains($"rank {r}: mixed precision ok", result.Stdout[r]);
        }
    }

    [Fact]
    public void CpuFlagsAreReadFromCpuinfo()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n");
            Assert.Equal(new CpuBf16Support(true, false), CpuBf16Support.Read(path));
            File.WriteAllText(path, "flags\t\t: fpu amx_bf16 amx_tile\n");
            Assert.Equal(new CpuBf16Support(false, true), CpuBf16Support.Read(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
