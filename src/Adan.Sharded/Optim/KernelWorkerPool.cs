namespace Adan.Sharded.Optim;

/// <summary>
/// A small set of persistent threads that run the parts of one data-parallel pass. The caller
/// runs part 0 itself and blocks until the others finish, so a pass allocates nothing and the
/// context may live on the caller's stack.
/// </summary>
/// <remarks>
/// Workers spin briefly before blocking: an optimizer step calls the pool once per tensor, and
/// waking a blocked thread for each of a hundred tensors would cost more than the work itself.
/// </remarks>
internal sealed unsafe class KernelWorkerPool
{
    // ManualResetEventSlim's largest spin count; a worker spins this long between back-to-back tensors.
    private const int SpinCount = 2047;

    private readonly Lock _gate = new();
    private readonly ManualResetEventSlim _done = new(false, SpinCount);
    private Worker[] _workers = [];
    private delegate*<void*, int, void> _body;
    private void* _context;
    private int _pending;

    /// <summary>The pool shared by every kernel in the process.</summary>
    public static KernelWorkerPool Shared { get; } = new();

    /// <summary>
    /// Runs <paramref name="body"/>(<paramref name="context"/>, part) for part = 0 … parts − 1,
    /// part 0 on the calling thread, and returns when all have finished.
    /// </summary>
    public void Run(int parts, delegate*<void*, int, void> body, void* context)
    {
        if (parts <= 1)
        {
            body(context, 0);
            return;
        }

        lock (_gate)
        {
            EnsureWorkers(parts - 1);
            _body = body;
            _context = context;
            _done.Reset();
            Volatile.Write(ref _pending, parts - 1);
            for (var i = 0; i < parts - 1; i++)
            {
                _workers[i].Start(i + 1);
            }
            body(context, 0);
            _done.Wait();
        }
    }

    private void EnsureWorkers(int count)
    {
        if (_workers.Length >= count)
        {
            return;
        }
        var workers = new Worker[count];
        Array.Copy(_workers, workers, _workers.Length);
        for (var i = _workers.Length; i < count; i++)
        {
            workers[i] = new Worker(this, i + 1);
        }
        _workers = workers;
    }

    private void RunPart(int part)
    {
        _body(_context, part);
        if (Interlocked.Decrement(ref _pending) == 0)
        {
            _done.Set();
        }
    }

    private sealed class Worker
    {
        private readonly KernelWorkerPool _pool;
        private readonly ManualResetEventSlim _go = new(false, SpinCount);
        private int _part;

        public Worker(KernelWorkerPool pool, int index)
        {
            _pool = pool;
            var thread = new Thread(Loop) { IsBackground = true, Name = $"adan-kernel-{index}" };
            thread.Start();
        }

        public void Start(int part)
        {
            _part = part;
            _go.Set();
        }

        private void Loop()
        {
            while (true)
            {
                _go.Wait();
                _go.Reset();
                _pool.RunPart(_part);
            }
        }
    }
}
