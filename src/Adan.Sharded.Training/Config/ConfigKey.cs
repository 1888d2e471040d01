namespace Adan.Sharded.Training.Config;

/// <summary>One row of <c>adan config keys</c>: a key the binder accepts, as a user needs to know it.</summary>
/// <param name="Name">The key as a config file and <c>--set</c> spell it (<c>micro_batch</c>, <c>adan.lr</c>).</param>
/// <param name="Type">integer | number | boolean | string | choice | number array.</param>
/// <param name="Default">The value of a default-constructed config, as a config file spells it.</param>
/// <param name="Range">The valid values: a range such as <c>[1, 65536]</c>, the choices, or a rule in words.</param>
/// <param name="Description">One line: what the key does.</param>
/// <param name="Architecture">Whether the key shapes the model (recorded in checkpoints and exports).</param>
internal sealed record ConfigKey(string Name, string Type, string Default, string Range, string Description, bool Architecture);
