using Adan.Sharded.Zero.Rules;

namespace Adan.Sharded.Zero;

/// <summary>
/// Every optimizer the engine offers, by name: the one place that maps a config section or a checkpoint's optimizer
/// name to an options record and a rule. Adding an optimizer is a rule, a kernel, an options record and one entry here.
/// </summary>
public static class OptimizerRegistry
{
    /// <summary>The optimizers, in the order help texts list them.</summary>
    public static IReadOnlyList<OptimizerDefinition> All { get; } =
    [
        new("adan", typeof(AdanGroupOptions), () => new AdanGroupOptions(), () => new AdanRule(), "the official Adan (sail-sg/Adan)"),
        new("lamb", typeof(LambGroupOptions), () => new LambGroupOptions(), () => new LambRule(), "timm's Lamb"),
        new("adamw", typeof(AdamWGroupOptions), () => new AdamWGroupOptions(), () => new AdamWRule(), "torch.optim.AdamW"),
        new("sgd", typeof(SgdGroupOptions), () => new SgdGroupOptions(), () => new SgdRule(), "torch.optim.SGD"),
    ];

    /// <summary>The names, as a config or a message lists them.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(d => d.Name)];

    /// <summary>The optimizer called <paramref name="name"/> (case-sensitive, lower case).</summary>
    /// <exception cref="ArgumentException">No optimizer has that name.</exception>
    public static OptimizerDefinition Get(string name) =>
        All.FirstOrDefault(d => d.Name == name)
        ?? throw new ArgumentException($"unknown optimizer '{name}'; expected one of {string.Join(", ", Names)}.", nameof(name));

    /// <summary>The optimizer whose groups hold <paramref name="optionsType"/>.</summary>
    /// <exception cref="ArgumentException">No optimizer takes that options record.</exception>
    public static OptimizerDefinition ForOptions(Type optionsType) =>
        All.FirstOrDefault(d => d.OptionsType == optionsType)
        ?? throw new ArgumentException($"no optimizer takes {optionsType.Name}; use one of {string.Join(", ", All.Select(d => d.OptionsType.Name))}.",
            nameof(optionsType));
}
