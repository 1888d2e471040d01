using Adan.Sharded.Precision;
using TorchSharp;
using TorchSharp.Modules;

namespace Adan.Sharded.Flat;

/// <remarks>
/// [Note: the compute copy] Under a mixed <see cref="ComputePrecision"/> (bf16-mixed) <see cref="Values"/> and
/// <see cref="Gradients"/> stay fp32 and are the master: the optimizer's domain, what checkpoints save and load, and
/// what the gradient reduction leaves its sums in. The model's parameters are views of <see cref="ComputeValues"/>, a
/// bf16 buffer of the same layout, and their gradients views of <see cref="ComputeGradients"/>, so backward writes bf16
/// and an all-gather of the updated shards moves bf16 (half the bytes). Parameters of the modules kept fp32
/// (normalisation) are fp32 tensors of their own, refreshed from the compute copy (so every rank computes with the same
/// values), whose gradients are views of the fp32 master gradient directly. Gradients reach the master by
/// <see cref="AccumulateGradients"/> after a micro-batch that is not the step's last (fp32 accumulation), and by
/// <see cref="WidenGradients"/> or <see cref="NarrowGradients"/> as the reduction takes each bucket. Outside a
/// rank's own shard the fp32 master values are not kept current at ZeRO-1/2 (the all-gather moves the compute copy
/// only); nothing reads them there. Under fp32 the compute copy is the master itself and every method here does nothing.
/// </remarks>
public sealed partial class FlatParameters
{
    private torch.Tensor? _computeValues;
    private torch.Tensor? _computeGradients;
    private torch.Tensor[] _computeValueViews = [];
    private torch.Tensor[] _computeGradViews = [];
    private Parameter[] _fp32Parameters = [];
    private int[] _fp32Indices = [];
    private MixedPrecisionModel? _mixedModel;

    /// <summary>The dtype the model computes in (<see cref="ComputePrecision.ComputeType"/>).</summary>
    public torch.ScalarType ComputeType => _computeValues?.dtype ?? torch.ScalarType.Float32;

    /// <summary>Whether the model computes in a copy of another dtype than the fp32 master.</summary>
    public bool IsMixedPrecision => _computeValues is not null;

    /// <summary>The flat buffer the model's parameters are views of: a bf16 copy of <see cref="Values"/> under bf16-mixed, else <see cref="Values"/>.</summary>
    public torch.Tensor ComputeValues => _computeValues ?? Values;

    /// <summary>The flat buffer backward writes: bf16 under bf16-mixed, else <see cref="Gradients"/>.</summary>
    public torch.Tensor ComputeGradients => _computeGradients ?? _gradients;

    /// <summary>Parameters kept fp32 under mixed precision (normalisation weights and biases); none under fp32.</summary>
    public int Fp32ParameterCount => _fp32Indices.Length;

    /// <summary>
    /// After <see cref="Values"/> changed as a whole (the initial broadcast, a load, a replicated step): rounds the
    /// master into the compute copy and refreshes the fp32 parameters from it. Nothing under fp32.
    /// </summary>
    public void RefreshCompute()
    {
        if (_computeValues is null)
        {
            return;
        }
        using (torch.no_grad())
        {
            _computeValues.copy_(Values);
        }
        RefreshFp32Parameters();
    }

    /// <summary>
    /// After <see cref="ComputeValues"/> changed (the all-gather of the updated shards): the parameters kept fp32 take
    /// its values, widened. Nothing under fp32.
    /// </summary>
    public void RefreshFp32Parameters()
    {
        using (torch.no_grad())
        {
            for (var k = 0; k < _fp32Indices.Length; k++)
            {
                _fp32Parameters[k].copy_(_computeValueViews[_fp32Indices[k]]);
            }
        }
    }

    /// <summary>
    /// After the backward pass of a micro-batch that is not the step's last: adds the compute gradients into the fp32
    /// master gradients and clears them, so that micro-batches accumulate in fp32. Nothing under fp32 (autograd already
    /// accumulates into the master).
    /// </summary>
    public void AccumulateGradients()
    {
        if (_computeGradients is null)
        {
            return;
        }
        if (TrackUnusedParameters)
        {
            GatherGradients();
        }
        _gradients.add_(_computeGradients);
        _computeGradients.zero_();
    }

    /// <summary>Reducing in fp32: adds the compute gradients of [<paramref name="start"/>, <paramref name="end"/>) into the master gradients.</summary>
    public void WidenGradients(long start, long end)
    {
        if (_computeGradients is null || end <= start)
        {
            return;
        }
        using var master = _gradients.narrow(0, start, end - start);
        using var compute = _computeGradients.narrow(0, start, end - start);
        master.add_(compute);
    }

    /// <summary>
    /// Reducing in bf16: the sum of the master's accumulated gradients and the compute gradients of
    /// [<paramref name="start"/>, <paramref name="end"/>), formed in fp32 and rounded into the compute buffer, which the
    /// collective then reduces (<see cref="CopyReducedGradients"/> brings its sums back).
    /// </summary>
    public void NarrowGradients(long start, long end)
    {
        if (_computeGradients is null || end <= start)
        {
            return;
        }
        using var master = _gradients.narrow(0, start, end - start);
        using var compute = _computeGradients.narrow(0, start, end - start);
        master.add_(compute);
        compute.copy_(master);
    }

    /// <summary>Reducing in bf16: widens the reduced sums of [<paramref name="start"/>, <paramref name="end"/>) into the master gradients.</summary>
    public void CopyReducedGradients(long start, long end)
    {
        if (_computeGradients is null || end <= start)
        {
            return;
        }
        using var master = _gradients.narrow(0, start, end - start);
        using var compute = _computeGradients.narrow(0, start, end - start);
        master.copy_(compute);
    }

    /// <summary>Converts the model, allocates the compute copy and binds the model's new parameters; returns the gradient views they bind to.</summary>
    private torch.Tensor[] BindComputeCopy(torch.nn.Module<torch.Tensor, torch.Tensor> model)
    {
        _mixedModel = MixedPrecisionModel.Convert(model, ComputePrecision.Bf16Mixed);
        // Module.to keeps requires_grad: the frozen parameters (bf16 now, the module's own tensors) stay unbound.
        var converted = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        if (converted.Count != _parameters.Length || converted.Where((p, i) => p.name != Layout.Entries[i].Name).Any())
        {
            throw new InvalidOperationException("converting the model to its compute dtype changed its parameters' names or order.");
        }
        _parameters = converted.Select(p => p.parameter).ToArray();
        var device = Values.device;
        var type = ComputePrecision.Bf16Mixed.ComputeType;
        _computeValues = torch.zeros(Layout.TotalNumel, dtype: type, device: device).DetachFromDisposeScope();
        _computeGradients = torch.zeros(Layout.TotalNumel, dtype: type, device: device).DetachFromDisposeScope();
        _computeValueViews = new torch.Tensor[_parameters.Length];
        _computeGradViews = new torch.Tensor[_parameters.Length];
        var bound = new torch.Tensor[_parameters.Length];
        var fp32 = new List<int>();
        using (torch.no_grad())
        {
            for (var i = 0; i < _parameters.Length; i++)
            {
                var e = Layout.Entries[i];
                _computeValueViews[i] = _computeValues.narrow(0, e.Offset, e.Numel).view(e.Shape).DetachFromDisposeScope();
                _computeGradViews[i] = _computeGradients.narrow(0, e.Offset, e.Numel).view(e.Shape).DetachFromDisposeScope();
                if (_parameters[i].dtype == type)
                {
                    _parameters[i].set_(_computeValueViews[i]);
                    bound[i] = _computeGradViews[i];
                }
                else
                {
                    fp32.Add(i);
                    bound[i] = _gradViews[i];
                }
            }
        }
        _fp32Indices = [.. fp32];
        _fp32Parameters = fp32.Select(i => _parameters[i]).ToArray();
        RefreshCompute();
        return bound;
    }

    private void ZeroComputeGradients() => _computeGradients?.zero_();

    private void DisposeComputeCopy()
    {
        _mixedModel?.Dispose();
        foreach (var v in _computeValueViews.Concat(_computeGradViews))
        {
            v.Dispose();
        }
        _computeGradients?.Dispose();
        _computeValues?.Dispose();
    }
}
