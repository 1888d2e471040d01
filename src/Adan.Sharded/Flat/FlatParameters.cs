using Adan.Sharded.Precision;
using Adan.Sharded.Tensors;
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
/// buffer in place) rather than reset to null. The gradient buffer is allocated once, aligned to a
/// huge page; <see cref="DecommitGradients"/> returns its pages to the kernel between steps
/// (ZeRO-2) without unmapping it, so no step allocates N elements. With <see cref="TrackUnusedParameters"/> the gradients are
/// left null before backward instead, and <see cref="GatherGradients"/> copies the ones that
/// arrived into the flat buffer and reports which parameters had none (as PyTorch DDP's
/// <c>find_unused_parameters</c>); that costs one extra pass over the gradients. Under a mixed
/// <see cref="ComputePrecision"/> the parameters and their gradients are views of a bf16 copy instead, and the fp32
/// buffers are the master (FlatParameters.MixedPrecision.cs).
/// </remarks>
public sealed partial class FlatParameters : IDisposable
{
    private Parameter[] _parameters;
    private readonly torch.Tensor[] _valueViews;
    private readonly torch.Tensor[] _gradViews;
    private readonly torch.Tensor[] _boundGradViews;
    private readonly torch.Tensor _gradientStorage;
    private readonly torch.Tensor _gradients;
    private readonly List<(long From, long To)> _decommitted = new();
    private readonly List<(long Start, long End)> _ready = [];
    private readonly HugePageRelease _hugePages;
    private readonly bool[] _hasGradient;
    private byte[]? _residency;

    /// <summary>Lays out and binds the given parameters (in this order).</summary>
    public FlatParameters(IEnumerable<(string Name, Parameter Parameter)> parameters, int worldSize,
        int alignment = FlatLayout.DefaultAlignment, bool trackUnusedParameters = false)
        : this(parameters.ToList(), worldSize, alignment, trackUnusedParameters, null)
    {
    }

    private FlatParameters(List<(string Name, Parameter Parameter)> list, int worldSize, int alignment, bool trackUnusedParameters,
        torch.nn.Module<torch.Tensor, torch.Tensor>? mixedModel)
    {
        foreach (var (name, p) in list)
        {
            if (p.dtype != torch.ScalarType.Float32)
            {
                throw new ArgumentException($"parameter '{name}' has dtype {p.dtype}; flat buffers hold Float32 parameters only.", "parameters");
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
                if (mixedModel is null)
                {
                    _parameters[i].set_(_valueViews[i]);
                }
            }
        }
        (_gradientStorage, _gradients) = AllocateGradients(Layout.TotalNumel, device);
        _hugePages = new HugePageRelease(Layout.TotalNumel, PageMemory.HugePageBytes / sizeof(float));
        _gradViews = new torch.Tensor[_parameters.Length];
        for (var i = 0; i < _parameters.Length; i++)
        {
            var e = Layout.Entries[i];
            _gradViews[i] = _gradients.narrow(0, e.Offset, e.Numel).view(e.Shape).DetachFromDisposeScope();
        }
        _boundGradViews = mixedModel is null ? _gradViews : BindComputeCopy(mixedModel);
        for (var i = 0; i < _parameters.Length; i++)
        {
            _parameters[i].grad = TrackUnusedParameters ? null : _boundGradViews[i];
            _hasGradient[i] = !TrackUnusedParameters;
        }
    }

    /// <summary>
    /// Binds a module's trainable parameters in <c>named_parameters()</c> (registration) order. Frozen parameters
    /// (<c>requires_grad</c> false) stay out: they have no gradient, no optimizer state and no shard, and stay the
    /// module's own tensors (<see cref="Frozen"/>; the trainer broadcasts and checkpoints them with the module buffers).
    /// </summary>
    /// <exception cref="ArgumentException">Every parameter is frozen: there is nothing to train.</exception>
    public static FlatParameters FromModule(torch.nn.Module module, int worldSize, int alignment = FlatLayout.DefaultAlignment,
        bool trackUnusedParameters = false)
    {
        ArgumentNullException.ThrowIfNull(module);
        return new(Trainable(module), worldSize, alignment, trackUnusedParameters);
    }

    /// <summary>A module's parameters with <c>requires_grad</c>, in registration order.</summary>
    /// <exception cref="ArgumentException">Every parameter is frozen: there is nothing to train.</exception>
    private static List<(string Name, Parameter Parameter)> Trainable(torch.nn.Module module)
    {
        var trainable = module.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, p.parameter)).ToList();
        return trainable.Count > 0
            ? trainable
            : throw new ArgumentException("every parameter of the module is frozen (requires_grad false); there is nothing to train.", nameof(module));
    }

    /// <summary>A module's frozen parameters (<c>requires_grad</c> false), which <see cref="FromModule(torch.nn.Module, int, int, bool)"/> leaves out, in registration order.</summary>
    public static IReadOnlyList<(string Name, Parameter Parameter)> Frozen(torch.nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        return module.named_parameters().Where(p => !p.parameter.requires_grad).Select(p => (p.name, p.parameter)).ToList();
    }

    /// <summary>
    /// Binds a module's parameters in <c>named_parameters()</c> order for <paramref name="precision"/>: with
    /// <see cref="ComputePrecision.Fp32"/> as <see cref="FromModule(torch.nn.Module, int, int, bool)"/>; with a mixed one the
    /// fp32 values become the master in <see cref="Values"/>, the model is converted (<see cref="MixedPrecisionModel"/>)
    /// and its new trainable parameters are bound to the compute copy; frozen ones are converted with the model and stay
    /// its own tensors.
    /// </summary>
    public static FlatParameters FromModule(torch.nn.Module<torch.Tensor, torch.Tensor> module, int worldSize, ComputePrecision precision,
        int alignment = FlatLayout.DefaultAlignment, bool trackUnusedParameters = false)
    {
        ArgumentNullException.ThrowIfNull(precision);
        if (!precision.IsMixed)
        {
            return FromModule((torch.nn.Module)module, worldSize, alignment, trackUnusedParameters);
        }
        // Frozen parameters are converted with the model (they compute in bf16 too) but stay out of both flat buffers.
        return new FlatParameters(Trainable(module), worldSize, alignment, trackUnusedParameters, module);
    }

    /// <summary>The layout of both flat buffers.</summary>
    public FlatLayout Layout { get; }

    /// <summary>The flat fp32 parameter buffer (<see cref="FlatLayout.TotalNumel"/> elements).</summary>
    public torch.Tensor Values { get; }

    /// <summary>
    /// The flat fp32 gradient buffer. After <see cref="DecommitGradients"/> it reads as zero until
    /// backward writes into it again.
    /// </summary>
    public torch.Tensor Gradients => _gradients;

    /// <summary>
    /// Bytes of the flat gradient buffer held in memory now, counted page by page (<c>mincore</c>);
    /// the whole buffer where pages cannot be counted (not Linux, or not on the CPU).
    /// </summary>
    public long ResidentGradientBytes => _gradients.device_type == DeviceType.CPU
        ? PageMemory.ResidentBytes(TensorMemory.DataPointer(_gradients), Layout.TotalNumel * sizeof(float))
        : Layout.TotalNumel * sizeof(float);

    /// <summary>
    /// Whether every release of gradient pages (<see cref="ReleaseGradients"/>, <see cref="DecommitGradients"/>) first
    /// samples <see cref="ResidentGradientBytes"/> into <see cref="PeakResidentGradientBytes"/>. Off by default: a
    /// sample is one <c>mincore</c> over the whole buffer.
    /// </summary>
    /// <remarks>
    /// Resident gradient memory shrinks only at those releases and otherwise only grows (backward faulting pages in),
    /// so the samples taken just before each release, plus one at the end of the interval
    /// (<see cref="SampleResidentGradients"/>), give the interval's true peak.
    /// </remarks>
    public bool TrackResidentGradientPeak
    {
        get => _residency is not null;
        set => _residency = value
            ? _residency ?? new byte[PageMemory.PagesSpanned(TensorMemory.DataPointer(_gradients), Layout.TotalNumel * sizeof(float))]
            : null;
    }

    /// <summary>The largest <see cref="ResidentGradientBytes"/> sampled since the last <see cref="ResetResidentGradientPeak"/>.</summary>
    public long PeakResidentGradientBytes { get; private set; }

    /// <summary>Starts a new interval for <see cref="PeakResidentGradientBytes"/>.</summary>
    public void ResetResidentGradientPeak() => PeakResidentGradientBytes = 0;

    /// <summary>Samples the resident gradient bytes now into <see cref="PeakResidentGradientBytes"/> and returns them.</summary>
    public long SampleResidentGradients()
    {
        var resident = _residency is not null && _gradients.device_type == DeviceType.CPU
            ? PageMemory.ResidentBytes(TensorMemory.DataPointer(_gradients), Layout.TotalNumel * sizeof(float), _residency)
            : ResidentGradientBytes;
        PeakResidentGradientBytes = Math.Max(PeakResidentGradientBytes, resident);
        return resident;
    }

    /// <summary>The bound parameters, in layout order.</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>Whether unused parameters are detected (gradients left null before backward).</summary>
    public bool TrackUnusedParameters { get; }

    /// <summary>Per parameter: did it get a gradient in this step? Valid after <see cref="GatherGradients"/>.</summary>
    public IReadOnlyList<bool> HasGradient => _hasGradient;

    /// <summary>The view of parameter <paramref name="index"/> in <see cref="Values"/>.</summary>
    public torch.Tensor ValueView(int index) => _valueViews[index];

    /// <summary>
    /// Clears the gradients in place before the next forward/backward: one pass over the flat
    /// buffer, or only over the edges that <see cref="DecommitGradients"/> could not return (the
    /// returned pages already read as zero).
    /// </summary>
    public void ZeroGrad()
    {
        if (_decommitted.Count == 0)
        {
            _gradients.zero_();
        }
        else
        {
            // Releases come bucket by bucket in completion order and may overlap the step's final one.
            _decommitted.Sort(static (a, b) => a.From.CompareTo(b.From));
            var from = 0L;
            foreach (var (start, end) in _decommitted)
            {
                ZeroRange(from, start);
                from = Math.Max(from, end);
            }
            ZeroRange(from, Layout.TotalNumel);
            _decommitted.Clear();
        }
        _hugePages.Reset();
        ZeroComputeGradients();
        for (var i = 0; i < _parameters.Length; i++)
        {
            _parameters[i].grad = TrackUnusedParameters ? null : _boundGradViews[i];
        }
    }

    /// <summary>
    /// After backward: makes sure every gradient is in the flat buffer and records which parameters
    /// had one. Without <see cref="TrackUnusedParameters"/> every parameter counts as having one.
    /// </summary>
    public void GatherGradients()
    {
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
                _boundGradViews[i].copy_(grad);
                _parameters[i].grad = _boundGradViews[i];
            }
        }
    }

    /// <summary>
    /// Returns the flat gradient buffer's huge pages outside [<paramref name="keepStart"/>,
    /// <paramref name="keepStart"/> + <paramref name="keepLength"/>) to the kernel: ZeRO-2 keeps only
    /// its own block of the reduced gradient. The buffer stays mapped and the gradient views stay
    /// bound; the returned pages read as zero, and backward faults them in again as it writes. The (at most two) huge
    /// pages that hold part of the kept block stay resident whole (<see cref="HugePageRelease"/>).
    /// </summary>
    public void DecommitGradients(long keepStart = 0, long keepLength = 0)
    {
        if (!CanRelease(0, Layout.TotalNumel, keepStart, keepLength))
        {
            return;
        }
        // Everything is reduced: every huge page outside the block goes, whatever was released bucket by bucket.
        var (below, above) = _hugePages.Outside(keepStart, keepStart + keepLength);
        Release(below);
        Release(above);
        _hugePages.Reset();
    }

    /// <summary>
    /// Records that [<paramref name="start"/>, <paramref name="end"/>) is reduced and returns to the kernel each huge page
    /// (2 MiB) that holds none of the kept block [<paramref name="keepStart"/>, <paramref name="keepStart"/> +
    /// <paramref name="keepLength"/>) and is now entirely reduced in this step (<see cref="HugePageRelease"/>): ZeRO-2 calls it for a bucket as soon as the bucket's
    /// reduce-scatter has completed, so the pages of shards this rank does not own are gone before backward has
    /// finished. A huge page is returned whole, once the last bucket in it is reduced, so that khugepaged has nothing to
    /// fill back in; <see cref="DecommitGradients"/> at the end of the reduction returns whatever is left outside the
    /// block's huge pages. Each range may be released once per step (<see cref="ZeroGrad"/> starts a step). Nothing is returned off
    /// the CPU.
    /// </summary>
    public void ReleaseGradients(long start, long end, long keepStart, long keepLength)
    {
        if (!CanRelease(start, end, keepStart, keepLength))
        {
            return;
        }
        _ready.Clear();
        _hugePages.Complete(start, end, keepStart, keepStart + keepLength, _ready);
        foreach (var page in _ready)
        {
            Release(page);
        }
    }

    /// <summary>Copies parameter values from a flat buffer of the same layout (e.g. after a load).</summary>
    public void LoadValues(torch.Tensor flat)
    {
        using (torch.no_grad())
        {
            Values.copy_(flat);
        }
        RefreshCompute();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var p in _parameters)
        {
            p.grad = null;
        }
        DisposeComputeCopy();
        foreach (var v in _gradViews)
        {
            v.Dispose();
        }
        _gradients.Dispose();
        _gradientStorage.Dispose();
        foreach (var v in _valueViews)
        {
            v.Dispose();
        }
        Values.Dispose();
    }

    /// <summary>
    /// The gradient buffer of <paramref name="numel"/> elements inside a storage over-allocated by
    /// two huge pages so that the buffer starts on a huge-page boundary and its last huge page lies whole inside the
    /// storage (it is returned whole, <see cref="HugePageRelease"/>), and advised to use huge
    /// pages: backward faults a decommitted buffer back in 2 MiB at a time. With 4 KiB pages ZeRO-2's
    /// zeroing plus one write of 6.5 M gradients took 21 ms against ZeRO-1's 8.4 ms; with huge
    /// pages 8.6–9.1 ms (<c>adan bench zero</c>, W = 2, docs/architecture.md).
    /// </summary>
    private static (torch.Tensor Storage, torch.Tensor Buffer) AllocateGradients(long numel, torch.Device device)
    {
        if (device.type != DeviceType.CPU)
        {
            var plain = torch.zeros(numel, dtype: torch.float32, device: device).DetachFromDisposeScope();
            return (plain, plain.narrow(0, 0, numel).DetachFromDisposeScope());
        }
        const long padding = PageMemory.HugePageBytes / sizeof(float);
        var storage = torch.empty(numel + 2 * padding, dtype: torch.float32).DetachFromDisposeScope();
        var address = (long)TensorMemory.DataPointer(storage);
        var offset = (PageMemory.HugePageBytes - address % PageMemory.HugePageBytes) % PageMemory.HugePageBytes / sizeof(float);
        var buffer = storage.narrow(0, offset, numel).DetachFromDisposeScope();
        var wholePages = (numel + padding - 1) / padding * padding;
        PageMemory.AdviseHugePages(TensorMemory.DataPointer(buffer), wholePages * sizeof(float));
        buffer.zero_();
        return (storage, buffer);
    }

    /// <summary>Checks a release's ranges; whether pages can be returned here (CPU memory on Linux), sampled first when tracked.</summary>
    private bool CanRelease(long start, long end, long keepStart, long keepLength)
    {
        if (start < 0 || end < start || end > Layout.TotalNumel)
        {
            throw new ArgumentOutOfRangeException(nameof(end), $"released range [{start}, {end}) is outside [0, {Layout.TotalNumel}).");
        }
        if (keepStart < 0 || keepLength < 0 || keepStart + keepLength > Layout.TotalNumel)
        {
            throw new ArgumentOutOfRangeException(nameof(keepStart), $"kept range [{keepStart}, {keepStart + keepLength}) is outside [0, {Layout.TotalNumel}).");
        }
        if (_gradients.device_type != DeviceType.CPU || !PageMemory.Supported)
        {
            return false;
        }
        if (_residency is not null)
        {
            SampleResidentGradients();
        }
        return true;
    }

    private void Release((long Start, long End) range)
    {
        if (range.End > range.Start)
        {
            // The buffer starts on a huge-page boundary, so element offsets on page boundaries are page addresses.
            PageMemory.Decommit(TensorMemory.DataPointer(_gradients) + (nint)(range.Start * sizeof(float)), (range.End - range.Start) * sizeof(float));
            _decommitted.Add(range);
        }
    }

    private void ZeroRange(long from, long to)
    {
        if (to > from)
        {
            using var range = _gradients.narrow(0, from, to - from);
            range.zero_();
        }
    }
}
