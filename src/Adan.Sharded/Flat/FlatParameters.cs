using TorchSharp;
using TorchSharp.Modules;

namespace Adan.Sharded.Flat;

/// <summary>
/// Moves a module's parameters into one contiguous fp32 buffer laid out by <see cref="FlatLayout"/>
/// and makes every parameter, and its gradient, a view into the flat parameter and flat gradient
/// buffers, so that backward writes gradients contiguously and a collective or the optimizer can
/// treat all of them as one array.
/// </summary>
/// <remarks>
/// Autograd accumulates into an existing <c>.grad</c> in place, so the gradient views stay bound
/// across steps as long as gradients are zeroed with <see cref="ZeroGrad"/> (which clears the
/// buffer) rather than reset to null. With <see cref="TrackUnusedParameters"/> the gradients are
/// left null before backward instead, and <see cref="GatherGradients"/> copies the ones that
/// arrived into the flat buffer and reports which parameters had none (as PyTorch DDP's
/// <c>find_unused_parameters</c>); that costs one extra pass over the gradients.
/// </remarks>
public sealed class FlatParameters : IDisposable
{
    private readonly Parameter[] _parameters;
    private readonly torch.Tensor[] _valueViews;
    private torch.Tensor[]? _gradViews;
    private torch.Tensor? _gradients;
    private readonly bool[] _hasGradient;

    /// <summary>Lays out and binds the given parameters (in this order).</summary>
    public FlatParameters(IEnumerable<(string Name, Parameter Parameter)> parameters, int worldSize,
        int alignment = FlatLayout.DefaultAlignment, bool trackUnusedParameters = false)
    {
        var list = parameters.ToList();
        foreach (var (name, p) in list)
        {
            if (p.dtype != torch.ScalarType.Float32)
            {
                throw new ArgumentException($"parameter '{name}' has dtype {p.dtype}; flat buffers hold Float32 parameters only.", nameof(parameters));
            }
        }
        Layout = FlatLayout.Build(list.Select(p => (p.Name, p.Parameter.shape)), worldSize, alignment);
        _parameters = list.Select(p => p.Parameter).ToArray();
        TrackUnusedParameters = trackUnusedParameters;
        _hasGradient = new bool[_parameters.Length];
        var device = _parameters[0].device;
        // The flat buffers and their views live as long as this object, whatever dispose scope is open.
        Values = torch.zeros(Layout.TotalNumel, dtype: torch.float32, device: device).DetachFromDisposeScope();
        _valueViews = new torch.Tensor[_parameters.Length];
        using (torch.no_grad())
        {
            for (var i = 0; i < _parameters.Length; i++)
            {
                var e = Layout.Entries[i];
                _valueViews[i] = Values.narrow(0, e.Offset, e.Numel).view(e.Shape).DetachFromDisposeScope();
                _valueViews[i].copy_(_parameters[i]);
                _parameters[i].set_(_valueViews[i]);
            }
        }
        AllocateGradients();
    }

    /// <summary>Binds a module's parameters in <c>named_parameters()</c> (registration) order.</summary>
    public static FlatParameters FromModule(torch.nn.Module module, int worldSize, int alignment = FlatLayout.DefaultAlignment,
        bool trackUnusedParameters = false) =>
        new(module.named_parameters().Select(p => (p.name, p.parameter)), worldSize, alignment, trackUnusedParameters);

    /// <summary>The layout of both flat buffers.</summary>
    public FlatLayout Layout { get; }

    /// <summary>The flat fp32 parameter buffer (<see cref="FlatLayout.TotalNumel"/> elements).</summary>
    public torch.Tensor Values { get; }

    /// <summary>The flat fp32 gradient buffer, or null while released (ZeRO-2 between steps).</summary>
    public torch.Tensor? Gradients => _gradients;

    /// <summary>The bound parameters, in layout order.</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>Whether unused parameters are detected (gradients left null before backward).</summary>
    public bool TrackUnusedParameters { get; }

    /// <summary>Per parameter: did it get a gradient in this step? Valid after <see cref="GatherGradients"/>.</summary>
    public IReadOnlyList<bool> HasGradient => _hasGradient;

    /// <summary>The view of parameter <paramref name="index"/> in <see cref="Values"/>.</summary>
    public torch.Tensor ValueView(int index) => _valueViews[index];

    /// <summary>Clears the gradients before the next forward/backward (one pass over the flat buffer).</summary>
    public void ZeroGrad()
    {
        if (_gradients is null)
        {
            AllocateGradients();
        }
        _gradients!.zero_();
        for (var i = 0; i < _parameters.Length; i++)
        {
            _parameters[i].grad = TrackUnusedParameters ? null : _gradViews![i];
        }
    }

    /// <summary>
    /// After backward: makes sure every gradient is in the flat buffer and records which parameters
    /// had one. Without <see cref="TrackUnusedParameters"/> every parameter counts as having one.
    /// </summary>
    public void GatherGradients()
    {
        if (_gradients is null)
        {
            throw new InvalidOperationException("gradients were released; call ZeroGrad() before backward.");
        }
        using var scope = torch.NewDisposeScope();
        for (var i = 0; i < _parameters.Length; i++)
        {
            var grad = _parameters[i].grad;
            _hasGradient[i] = grad is not null;
            if (TrackUnusedParameters && grad is not null)
            {
                if (grad.is_sparse)
                {
                    throw new NotSupportedException($"parameter '{Layout.Entries[i].Name}' has a sparse gradient; flat buffers hold dense gradients only.");
                }
                _gradViews![i].copy_(grad);
                _parameters[i].grad = _gradViews[i];
            }
        }
    }

    /// <summary>
    /// Frees the flat gradient buffer and unbinds the gradients (ZeRO-2 keeps only its shard of the
    /// averaged gradient). The next <see cref="ZeroGrad"/> allocates it again.
    /// </summary>
    public void ReleaseGradients()
    {
        if (_gradients is null)
        {
            return;
        }
        foreach (var p in _parameters)
        {
            p.grad = null;
        }
        foreach (var v in _gradViews!)
        {
            v.Dispose();
        }
        _gradViews = null;
        _gradients.Dispose();
        _gradients = null;
    }

    /// <summary>Copies parameter values from a flat buffer of the same layout (e.g. after a load).</summary>
    public void LoadValues(torch.Tensor flat)
    {
        using (torch.no_grad())
        {
            Values.copy_(flat);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        ReleaseGradients();
        foreach (var v in _valueViews)
        {
            v.Dispose();
        }
        Values.Dispose();
    }

    private void AllocateGradients()
    {
        _gradients = torch.zeros(Layout.TotalNumel, dtype: torch.float32, device: Values.device).DetachFromDisposeScope();
        _gradViews = new torch.Tensor[_parameters.Length];
        for (var i = 0; i < _parameters.Length; i++)
        {
            var e = Layout.Entries[i];
            _gradViews[i] = _gradients.narrow(0, e.Offset, e.Numel).view(e.Shape).DetachFromDisposeScope();
            _parameters[i].grad = TrackUnusedParameters ? null : _gradViews[i];
            _hasGradient[i] = !TrackUnusedParameters;
        }
    }
}
