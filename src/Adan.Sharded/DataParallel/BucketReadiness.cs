namespace Adan.Sharded.DataParallel;

/// <summary>
/// Which gradient buckets backward has finished, and which may be launched now. Pure bookkeeping, no tensors: the
/// hooks report module calls (forward) and module gradients done (backward); a parameter is complete once every
/// module that owns it has had the gradient of every one of its calls computed (a module called twice, or a weight
/// tied into two modules, counts all its uses), and a bucket once all its parameters are. Buckets are launched in a
/// fixed order that every rank shares (a bucket waits for the ones before it), so ranks whose backward finishes
/// buckets in different orders still start their collectives in the same order.
/// </summary>
/// <remarks>
/// A module whose call could not be tracked (its input needs no gradient, or it was run without its hooks) never
/// completes, so its parameters' buckets wait for <see cref="LaunchRemaining"/> at the end of backward: nothing is
/// launched before its gradient is whole.
/// </remarks>
public sealed class BucketReadiness
{
    private readonly int[][] _parametersOfModule;
    private readonly int[][] _ownersOfParameter;
    private readonly int[][] _bucketsOfParameter;
    private readonly int[] _parameterCountOfBucket;
    private readonly int[] _calls;
    private readonly int[] _done;
    private readonly bool[] _parameterReady;
    private readonly int[] _pendingOfBucket;
    private readonly bool[] _bucketReady;
    private readonly List<int> _observed = new();
    private int[] _order;
    private int _next;

    /// <summary>Sets up the bookkeeping.</summary>
    /// <param name="buckets">The buckets, in the default launch order.</param>
    /// <param name="parameterCount">Parameters in the flat layout.</param>
    /// <param name="parametersOfModule">Per tracked module, the layout indices of the parameters it owns directly.</param>
    public BucketReadiness(IReadOnlyList<GradientBucket> buckets, int parameterCount, IReadOnlyList<int[]> parametersOfModule)
    {
        ArgumentNullException.ThrowIfNull(buckets);
        ArgumentNullException.ThrowIfNull(parametersOfModule);
        _parametersOfModule = parametersOfModule.Select(p => p.ToArray()).ToArray();
        var owners = Enumerable.Range(0, parameterCount).Select(_ => new List<int>()).ToArray();
        for (var m = 0; m < _parametersOfModule.Length; m++)
        {
            foreach (var p in _parametersOfModule[m])
            {
                if (p < 0 || p >= parameterCount)
                {
                    throw new ArgumentException($"module {m} owns parameter {p}, outside [0, {parameterCount}).", nameof(parametersOfModule));
                }
                owners[p].Add(m);
            }
        }
        _ownersOfParameter = owners.Select(o => o.ToArray()).ToArray();
        var bucketsOfParameter = Enumerable.Range(0, parameterCount).Select(_ => new List<int>()).ToArray();
        _parameterCountOfBucket = new int[buckets.Count];
        for (var b = 0; b < buckets.Count; b++)
        {
            for (var p = buckets[b].FirstParameter; p <= buckets[b].LastParameter; p++)
            {
                bucketsOfParameter[p].Add(b);
                _parameterCountOfBucket[b]++;
            }
        }
        _bucketsOfParameter = bucketsOfParameter.Select(b => b.ToArray()).ToArray();
        _calls = new int[_parametersOfModule.Length];
        _done = new int[_parametersOfModule.Length];
        _parameterReady = new bool[parameterCount];
        _pendingOfBucket = new int[buckets.Count];
        _bucketReady = new bool[buckets.Count];
        _order = Enumerable.Range(0, buckets.Count).ToArray();
        Begin();
    }

    /// <summary>The number of buckets.</summary>
    public int BucketCount => _pendingOfBucket.Length;

    /// <summary>The order buckets are launched in (indices into the bucket list).</summary>
    public IReadOnlyList<int> LaunchOrder => _order;

    /// <summary>
    /// The order in which buckets were completed by backward during the current (or last) pass, the ones completed
    /// only by <see cref="LaunchRemaining"/> last in launch order.
    /// </summary>
    public IReadOnlyList<int> ObservedOrder => _observed;

    /// <summary>Buckets launched in the current pass.</summary>
    public int Launched => _next;

    /// <summary>Starts a pass: no calls seen, nothing complete, nothing launched.</summary>
    public void Begin()
    {
        Array.Clear(_calls);
        Array.Clear(_done);
        Array.Clear(_parameterReady);
        Array.Copy(_parameterCountOfBucket, _pendingOfBucket, _pendingOfBucket.Length);
        for (var b = 0; b < _bucketReady.Length; b++)
        {
            _bucketReady[b] = _pendingOfBucket[b] == 0;
        }
        _observed.Clear();
        _next = 0;
    }

    /// <summary>Forward called module <paramref name="module"/> once more.</summary>
    public void Called(int module) => _calls[module]++;

    /// <summary>
    /// Backward computed the gradient of one call of module <paramref name="module"/>; adds to
    /// <paramref name="launch"/> the buckets that may be launched now, in launch order.
    /// </summary>
    public void Done(int module, List<int> launch)
    {
        _done[module]++;
        if (_done[module] != _calls[module])
        {
            return;
        }
        foreach (var p in _parametersOfModule[module])
        {
            if (_parameterReady[p] || !OwnersDone(p))
            {
                continue;
            }
            _parameterReady[p] = true;
            foreach (var b in _bucketsOfParameter[p])
            {
                if (--_pendingOfBucket[b] == 0)
                {
                    _bucketReady[b] = true;
                    _observed.Add(b);
                }
            }
        }
        while (_next < _order.Length && _bucketReady[_order[_next]])
        {
            launch.Add(_order[_next++]);
        }
    }

    /// <summary>Adds every bucket not launched yet to <paramref name="launch"/>, in launch order (the end of backward).</summary>
    public void LaunchRemaining(List<int> launch)
    {
        while (_next < _order.Length)
        {
            var b = _order[_next++];
            if (!_bucketReady[b])
            {
                _bucketReady[b] = true;
                _observed.Add(b);
            }
            launch.Add(b);
        }
    }

    /// <summary>Launches buckets in <paramref name="order"/> from the next pass on (every rank must adopt the same order).</summary>
    public void UseOrder(IReadOnlyList<int> order)
    {
        ArgumentNullException.ThrowIfNull(order);
        if (order.Count != _order.Length || order.Distinct().Count() != _order.Length || order.Any(b => b < 0 || b >= _order.Length))
        {
            throw new ArgumentException($"a launch order must name each of the {_order.Length} buckets once.", nameof(order));
        }
        _order = order.ToArray();
    }

    private bool OwnersDone(int parameter)
    {
        foreach (var m in _ownersOfParameter[parameter])
        {
            if (_calls[m] == 0 || _done[m] != _calls[m])
            {
                return false;
            }
        }
        return true;
    }
}
