using static TorchSharp.torch;
using AdanOptimizer = Adan.Sharded.Optim.Adan;

// One Adan step from the packed library on a small tensor, checked against the update's closed form at step 1: the
// moments start at zero and the gradient difference is zero, so with the bias corrections
// p1 = (p0 - lr * g / (|g| + eps)) / (1 + lr * wd)   (proximal weight decay).
const double lr = 0.01;
const double eps = 1e-8;
const double weightDecay = 0.02;
// Float32 arithmetic on values up to 3: a few units in the last place.
const double tolerance = 1e-6;
float[] initial = [0.5f, -1.25f, 2f, 0.125f, -0.75f, 3f];
float[] gradient = [0.3f, -0.02f, 1.5f, -4f, 0.001f, -0.6f];

using var parameter = new TorchSharp.Modules.Parameter(tensor(initial));
using var optimizer = new AdanOptimizer([parameter], lr, eps: eps, weightDecay: weightDecay);
using (var loss = (parameter * tensor(gradient)).sum())
{
    loss.backward();
}
optimizer.step();

var updated = parameter.data<float>().ToArray();
var maxDifference = 0.0;
for (var i = 0; i < initial.Length; i++)
{
    var expected = (initial[i] - lr * gradient[i] / (Math.Abs(gradient[i]) + eps)) / (1 + lr * weightDecay);
    maxDifference = Math.Max(maxDifference, Math.Abs(updated[i] - expected));
}
var version = typeof(AdanOptimizer).Assembly.GetName().Version;
var ok = maxDifference <= tolerance;
Console.WriteLine($"package-check: Adan.Sharded {version}: one Adan step on {initial.Length} parameters, " +
    $"max |actual - expected| = {maxDifference:E2} (tolerance {tolerance:E0}): {(ok ? "ok" : "WRONG")}");
return ok ? 0 : 1;
