namespace Adan.Sharded.Zero;

/// <summary>One optimizer the engine offers: its name, its options record, and how to make its rule.</summary>
/// <param name="Name">The name in configs (the section key), logs and checkpoints.</param>
/// <param name="OptionsType">The options record its groups hold and its config section binds to.</param>
/// <param name="DefaultOptions">A fresh record with the reference's defaults.</param>
/// <param name="CreateRule">A fresh, unbound rule.</param>
/// <param name="Reference">The implementation its defaults and numerics follow, for help texts.</param>
public sealed record OptimizerDefinition(string Name, Type OptionsType, Func<IGroupOptions> DefaultOptions, Func<IUpdateRule> CreateRule, string Reference);
