using System.Text.Json;

namespace Adan.TestSupport;

/// <summary>One reference trajectory of timm's LAMB (format: shared/golden/lamb/README.md).</summary>
public sealed record LambGoldenCase(
    string Name,
    double? MaxGradNorm,
    IReadOnlyList<LambGoldenGroup> Groups,
    IReadOnlyList<GoldenParam> Params,
    IReadOnlyList<LambGoldenStep> Steps,
    IReadOnlyList<LambGoldenState?> FinalState)
{
    /// <summary>The <c>*.json</c> file names in the LAMB golden directory, sorted.</summary>
    public static IEnumerable<string> FileNames() => TestPaths.GoldenFiles(TestPaths.LambGoldenDir, TestPaths.LambGoldenVariable);

    public static LambGoldenCase Load(string fileName)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.LambGoldenDir, fileName)));
        var root = doc.RootElement;
        var constructor = root.GetProperty("constructor");
        // timm's default is 1.0; an explicit null disables clipping.
        double? maxGradNorm = constructor.TryGetProperty("max_grad_norm", out var mgn)
            ? mgn.ValueKind == JsonValueKind.Null ? null : mgn.GetDouble()
            : 1.0;
        var groups = root.GetProperty("groups").EnumerateArray().Select(g =>
        {
            var betas = g.GetProperty("betas").EnumerateArray().Select(b => b.GetDouble()).ToArray();
            return new LambGoldenGroup(g.GetProperty("lr").GetDouble(), g.GetProperty("bias_correction").GetBoolean(), betas[0], betas[1],
                g.GetProperty("eps").GetDouble(), g.GetProperty("weight_decay").GetDouble(), g.GetProperty("grad_averaging").GetBoolean(),
                g.GetProperty("trust_clip").GetBoolean(), g.GetProperty("always_adapt").GetBoolean(),
                g.GetProperty("params").EnumerateArray().Select(i => i.GetInt32()).ToArray());
        }).ToArray();
        var parameters = root.GetProperty("params").EnumerateArray().Select(p => new GoldenParam(
            p.GetProperty("name").GetString()!,
            p.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(),
            Floats(p.GetProperty("init")))).ToArray();
        var steps = root.GetProperty("steps").EnumerateArray().Select(s => new LambGoldenStep(
            s.TryGetProperty("lr", out var lr) ? lr.EnumerateArray().Select(l => l.GetDouble()).ToArray() : null,
            s.GetProperty("grads").EnumerateArray().Select(g => g.ValueKind == JsonValueKind.Null ? null : Floats(g)).ToArray(),
            s.TryGetProperty("clip_divisor", out var divisor) ? divisor.GetDouble() : null,
            s.GetProperty("params_after").EnumerateArray().Select(Floats).ToArray())).ToArray();
        var finalState = root.GetProperty("final_state").EnumerateArray().Select(f => f.ValueKind == JsonValueKind.Null
            ? null
            : new LambGoldenState(f.GetProperty("step").GetInt64(), Floats(f.GetProperty("exp_avg")), Floats(f.GetProperty("exp_avg_sq")))).ToArray();
        return new LambGoldenCase(root.GetProperty("name").GetString()!, maxGradNorm, groups, parameters, steps, finalState);
    }

    // %.9g values round-trip float32 when parsed as double and then narrowed.
    private static float[] Floats(JsonElement array) => array.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
}

public sealed record LambGoldenGroup(double Lr, bool BiasCorrection, double Beta1, double Beta2, double Eps, double WeightDecay,
    bool GradAveraging, bool TrustClip, bool AlwaysAdapt, int[] Params);

public sealed record LambGoldenStep(double[]? Lr, float[]?[] Grads, double? ClipDivisor, float[][] ParamsAfter);

public sealed record LambGoldenState(long Step, float[] ExpAvg, float[] ExpAvgSq);
