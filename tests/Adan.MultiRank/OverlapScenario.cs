using System.Globalization;
using Adan.Sharded.Collectives;
using Adan.Sharded.DataParallel;
using Adan.Sharded.Flat;
using Adan.Sharded.Zero;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.MultiRank;

/// <summary>
/// Trains the same model twice side by side on W ranks with <see cref="ShardedOptimizer"/>: once reducing the gradients
/// after backward, once with a <see cref="GradientSync"/> built with the model launching buckets while backward runs; checks on every
/// rank, every step, that the parameters agree (bit for bit when EXACT is 1, else within 1e-6 relative) and that
/// buckets were launched during backward. Arguments: MODEL (mlp | convnet) STAGE STEPS MICRO_BATCHES EXACT.
/// Prints "launched during backward: N of M" from rank 0.
/// </summary>
internal static class OverlapScenario
{
    // Small buckets, so that the models here have several and the overlap has something to launch early.
    private const long BucketBytes = 512;

    public static int Run(string[] args)
    {
        var model = args[0];
        var stage = (ZeroStage)int.Parse(args[1], CultureInfo.InvariantCulture);
        var steps = int.Parse(args[2], CultureInfo.InvariantCulture);
        var microBatches = int.Parse(args[3], CultureInfo.InvariantCulture);
        var exact = args[4] == "1";
        set_num_threads(1);
        using var c = new MpiCollective();
        using var blocking = Model(model);
        using var overlapped = Model(model);
        using var flatBlocking = FlatParameters.FromModule(blocking, c.WorldSize);
        using var flatOverlapped = FlatParameters.FromModule(overlapped, c.WorldSize);
        using var overlap = new GradientSync(flatOverlapped, c, stage == ZeroStage.Replicated ? GradientReduction.AllReduce : GradientReduction.ReduceScatter,
            BucketBytes, overlapWith: overlapped);
        using var adanBlocking = ShardedOptimizers.Create(flatBlocking, c, MlpProblem.Options(), 0.5, stage);
        using var adanOverlapped = ShardedOptimizers.Create(flatOverlapped, c, MlpProblem.Options(), 0.5, stage, sync: overlap);
        Check.That(overlap.Buckets.Count > 2, $"only {overlap.Buckets.Count} buckets");
        var launchedDuringBackward = 0;
        for (var step = 0; step < steps; step++)
        {
            flatBlocking.ZeroGrad();
            flatOverlapped.ZeroGrad();
            for (var m = 0; m < microBatches; m++)
            {
                using var scope = NewDisposeScope();
                var (x, y) = Batch(model, step * microBatches + m, c.Rank);
                Loss(blocking, x, y).backward();
                if (m == microBatches - 1)
                {
                    overlap.Arm();
                }
                var launchedBefore = overlap.Launched;
                Loss(overlapped, x, y).backward();
                Check.That(overlap.Armed || overlap.Launched == launchedBefore, $"step {step}: buckets launched before the last micro-batch");
            }
            Check.That(adanBlocking.Step(microBatches) && adanOverlapped.Step(microBatches), $"step {step} was skipped");
            launchedDuringBackward += overlap.LastLaunchedDuringBackward;
            Compare(flatBlocking.Values, flatOverlapped.Values, exact, $"rank {c.Rank} step {step} ({model}, ZeRO-{(int)stage})");
        }
        Check.That(launchedDuringBackward > 0, "no bucket was launched while backward ran");
        if (c.Rank == 0)
        {
            Console.WriteLine($"launched during backward: {launchedDuringBackward} of {steps * overlap.Buckets.Count}");
        }
        return 0;
    }

    private static nn.Module<Tensor, Tensor> Model(string name) => name switch
    {
        "mlp" => new Mlp(),
        "convnet" => new ConvNet(),
        _ => throw new ArgumentException($"unknown model '{name}'; expected mlp or convnet."),
    };

    private static (Tensor X, Tensor Y) Batch(string model, int index, int rank)
    {
        manual_seed(7000 + 31 * index + rank);
        return model == "mlp" ? (randn(6, 10), randn(6, 5)) : (randn(4, 1, 8, 8), randn(4, 5));
    }

    private static Tensor Loss(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y) => nn.functional.mse_loss(model.call(x), y);

    private static void Compare(Tensor expected, Tensor actual, bool exact, string what)
    {
        var e = expected.data<float>().ToArray();
        var a = actual.data<float>().ToArray();
        for (var i = 0; i < e.Length; i++)
        {
            var ok = exact ? e[i] == a[i] : Math.Abs(e[i] - a[i]) <= 1e-6 + 1e-6 * Math.Abs(e[i]);
            Check.That(ok, $"{what}: overlapped parameter element {i} is {a[i]}, blocking {e[i]}");
        }
    }

    /// <summary>Three Linear layers, the middle one called twice (its weight used twice per forward).</summary>
    private sealed class Mlp : nn.Module<Tensor, Tensor>
    {
        private readonly Linear _in;
        private readonly Linear _hidden;
        private readonly Linear _out;

        public Mlp()
            : base("overlap_mlp")
        {
            manual_seed(3);
            _in = nn.Linear(10, 24);
            _hidden = nn.Linear(24, 24);
            _out = nn.Linear(24, 5);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            var h = nn.functional.tanh(_in.call(input));
            h = nn.functional.tanh(_hidden.call(h));
            h = nn.functional.tanh(_hidden.call(h));
            return _out.call(h);
        }
    }

    /// <summary>Conv, BatchNorm, a residual block with its own BatchNorms, LayerNorm and a linear head.</summary>
    private sealed class ConvNet : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d _stem;
        private readonly BatchNorm2d _stemNorm;
        private readonly Conv2d _conv1;
        private readonly BatchNorm2d _norm1;
        private readonly Conv2d _conv2;
        private readonly BatchNorm2d _norm2;
        private readonly LayerNorm _flatNorm;
        private readonly Linear _head;

        public ConvNet()
            : base("overlap_convnet")
        {
            manual_seed(4);
            _stem = nn.Conv2d(1, 4, 3, padding: 1);
            _stemNorm = nn.BatchNorm2d(4);
            _conv1 = nn.Conv2d(4, 4, 3, padding: 1);
            _norm1 = nn.BatchNorm2d(4);
            _conv2 = nn.Conv2d(4, 4, 3, padding: 1);
            _norm2 = nn.BatchNorm2d(4);
            _flatNorm = nn.LayerNorm(64);
            _head = nn.Linear(64, 5);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            var x = nn.functional.relu(_stemNorm.call(_stem.call(input)));
            var r = nn.functional.relu(_norm1.call(_conv1.call(x)));
            x = nn.functional.relu(_norm2.call(_conv2.call(r)) + x);
            x = nn.functional.avg_pool2d(x, 2).flatten(1);
            return _head.call(_flatNorm.call(x));
        }
    }
}
