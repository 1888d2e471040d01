namespace Adan.Sharded.Training.Config;

/// <summary>
/// Marks a <see cref="TrainConfig"/> property as a config key and gives what <c>adan config keys</c> prints of it beside
/// what the binder's contract already knows (name, type, default, declared range): a one-line description, the valid
/// values of a string key the binder checks in code, and whether the key shapes the model's architecture.
/// </summary>
/// <remarks>
/// The key table (<see cref="ConfigKeys"/>) is read from the same JSON contract the binder binds with, so a property
/// is listed exactly when it is accepted; a settable property without this attribute makes the table throw, which the
/// key-table test turns into a failure naming it.
/// </remarks>
/// <param name="description">One line, for people: what the key does.</param>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
internal sealed class ConfigKeyAttribute(string description) : Attribute
{
    /// <summary>One line, for people: what the key does.</summary>
    public string Description { get; } = description;

    /// <summary>
    /// The valid values of a string key whose check is a rule in code (e.g. <c>cpu | cuda | cuda:N</c>); null when the
    /// type or a declared range says it all.
    /// </summary>
    public string? Values { get; init; }

    /// <summary>
    /// Whether the key is part of the model's architecture: recorded in every checkpoint and in an export's
    /// <c>config.json</c>, so that the model can be built again (<see cref="Models.ModelArchitecture"/>).
    /// </summary>
    public bool Architecture { get; init; }
}
