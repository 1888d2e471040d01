using System.Text.Json;

namespace Adan.TestSupport;

/// <summary>One reference trajectory of the official Adan (format: shared/golden/adan/README.md).</summary>
public sealed record GoldenCase(
    string Name,
    double MaxGradNorm,
    IReadOnlyList<GoldenGroup> Groups,
    IReadOnlyList<GoldenParam> Params,
    IReadOnlyList<GoldenStep> Steps,
    IReadOnlyList<GoldenState?> FinalState)
{
    /// <summary>The <c>*.json</c> file names in the golden directory, sorted.</summary>
    public static IEnumerable<string> FileNames() => TestPaths.GoldenFiles(TestPaths.GoldenDir, TestPaths.GoldenVariable);

    public static GoldenCase Load(string fileName)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.GoldenDir, fileName)));
        var root = doc.RootElement;
        var constructor = root.GetProperty("constructor");
        var maxGradNorm = constructor.TryGetProperty("max_grad_norm", out var mgn) ? mgn.GetDouble() : 0.0;
        var groups = root.GetProperty("groups").EnumerateArray().Select(g =>
        {
            var betas = g.GetProperty("betas").EnumerateArray().Select(b => b.GetDouble()).ToArray();
            return new GoldenGroup(g.GetProperty("lr").GetDouble(), betas[0], betas[1], betas[2], g.GetProperty("eps").GetDouble(),
                g.GetProperty("weight_decay").GetDouble(), g.GetProperty("no_prox").GetBoolean(),
                g.GetProperty("params").EnumerateArray().Select(i => i.GetInt32()).ToArray());
        }).ToArray();
        var parameters = root.GetProperty("params").EnumerateArray().Select(p => new GoldenParam(
            p.GetProperty("name").GetString()!,
            p.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(),
            Floats(p.GetProperty("init")))).ToArray();
        var steps = root.GetProperty("steps").EnumerateArray().Select(s => new GoldenStep(
            s.TryGetProperty("restart", out var restart) && restart.GetBoolean(),
            s.TryGetProperty("lr", out var lr) ? lr.EnumerateArray().Select(l => l.GetDouble()).ToArray() : null,
            s.GetProperty("grads").EnumerateArray().Select(g => g.ValueKind == JsonValueKind.Null ? null : Floats(g)).ToArray(),
            s.GetProperty("params_after").EnumerateArray().Select(Floats).ToArray())).ToArray();
        var finalState = root.GetProperty("final_state").EnumerateArray().Select(f => f.ValueKind == JsonValueKind.Null
            ? null
            : new GoldenState(f.GetProperty("step").GetInt64(), Floats(f.GetProperty("exp_avg")), Floats(f.GetProperty("exp_avg_sq")),
                Floats(f.GetProperty("exp_avg_diff")), Floats(f.GetProperty("neg_pre_grad")))).ToArray();
        return new GoldenCase(root.GetProperty("name").GetString()!, maxGradNorm, groups, parameters, steps, finalState);
    }

    // %.9g values round-trip float32 when parsed as double and then narrowed.
    private static float[] Floats(JsonElement array) => array.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
}

public sealed record GoldenGroup(double Lr, double Beta1, double Beta2, double Beta3, double Eps, double WeightDecay, bool NoProx, int[] Params);

public sealed record GoldenParam(string Name, long[] Shape, float[] Init);

public sealed record GoldenStep(bool Restart, double[]? Lr, float[]?[] Grads, float[][] ParamsAfter);

public sealed record GoldenState(long Step, float[] ExpAvg, float[] ExpAvgSq, float[] ExpAvgDiff, float[] NegPreGrad);
