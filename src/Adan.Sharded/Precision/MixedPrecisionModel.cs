using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Adan.Sharded.Precision;

/// <summary>
/// Turns an fp32 model into one that computes in bf16: its parameters and floating buffers become bf16 except those of
/// the modules <see cref="ComputePrecision.KeepsFp32"/> keeps, and hooks cast at the edges (see the note on
/// <see cref="ComputePrecision"/>). Disposing removes the hooks.
/// </summary>
/// <remarks>
/// Hooks run when a module is invoked with <c>call</c> (as the trainer and the evaluation do), not with <c>forward</c>.
/// The model's parameters are new tensors afterwards (TorchSharp's <c>Module.to</c> replaces them): read the values
/// they had before converting, and bind the new ones.
/// </remarks>
public sealed class MixedPrecisionModel : IDisposable
{
    private readonly List<Action> _removeHooks = [];

    private MixedPrecisionModel(nn.Module<Tensor, Tensor> model, ComputePrecision precision)
    {
        var compute = precision.ComputeType;
        var before = Registered(model);
        model.to(compute);
        foreach (var module in model.modules().Prepend(model).Where(ComputePrecision.KeepsFp32))
        {
            module.to(ScalarType.Float32);
            if (module is nn.Module<Tensor, Tensor> norm)
            {
                _removeHooks.Add(norm.register_forward_pre_hook((_, input) => Cast(input, ScalarType.Float32)).remove);
                _removeHooks.Add(norm.register_forward_hook((_, _, output) => Cast(output, compute)).remove);
                FixedModules++;
            }
        }
        RebindFields(before);
        // Integer inputs (token ids) pass as they are; images enter in the compute dtype, logits leave in fp32.
        _removeHooks.Add(model.register_forward_pre_hook((_, input) => Cast(input, compute)).remove);
        _removeHooks.Add(model.register_forward_hook((_, _, output) => Cast(output, ScalarType.Float32)).remove);
    }

    /// <summary>Per module, its own parameters by name as registered now.</summary>
    private static List<(nn.Module Module, Dictionary<string, Parameter> Parameters)> Registered(nn.Module model) =>
        model.modules().Prepend(model)
            .Select(m => (m, m.named_parameters(recurse: false).ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal)))
            .ToList();

    /// <summary>
    /// Points every field that held a replaced parameter at its replacement. TorchSharp's <c>Module.to</c> sets a
    /// field only where its name matches the registered one, so a parameter registered under another name than its
    /// field's (the GPT's and ViT's <c>_positionEmbedding</c>, registered as <c>position_embedding</c>) would be left
    /// pointing at the disposed original.
    /// </summary>
    private static void RebindFields(List<(nn.Module Module, Dictionary<string, Parameter> Parameters)> before)
    {
        const BindingFlags flags = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;
        foreach (var (module, old) in before)
        {
            var now = module.named_parameters(recurse: false).ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
            for (var type = module.GetType(); type is not null && type != typeof(object); type = type.BaseType)
            {
                foreach (var field in type.GetFields(flags | BindingFlags.DeclaredOnly).Where(f => typeof(Tensor).IsAssignableFrom(f.FieldType)))
                {
                    if (field.GetValue(module) is not Parameter held)
                    {
                        continue;
                    }
                    var name = old.FirstOrDefault(p => ReferenceEquals(p.Value, held)).Key;
                    if (name is not null && now.TryGetValue(name, out var replacement) && !ReferenceEquals(replacement, held))
                    {
                        field.SetValue(module, replacement);
                    }
                }
            }
        }
    }

    /// <summary>Normalisation modules kept in fp32 with casts around them.</summary>
    public int FixedModules { get; private set; }

    /// <summary>Converts <paramref name="model"/> in place for <paramref name="precision"/> (which must be mixed) and installs its casts.</summary>
    public static MixedPrecisionModel Convert(nn.Module<Tensor, Tensor> model, ComputePrecision precision)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(precision);
        if (!precision.IsMixed)
        {
            throw new ArgumentException("an fp32 model needs no conversion; convert only for a mixed precision.", nameof(precision));
        }
        return new MixedPrecisionModel(model, precision);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var remove in _removeHooks)
        {
            remove();
        }
        _removeHooks.Clear();
    }

    private static Tensor Cast(Tensor tensor, ScalarType type) =>
        tensor.is_floating_point() && tensor.dtype != type ? tensor.to(type) : tensor;
}
