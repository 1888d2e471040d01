using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.Json.Serialization.Metadata;
using Adan.Sharded.Zero;

namespace Adan.Sharded.Training.Config;

/// <summary>
/// Every key the binder accepts, with its type, default, valid range and description: what <c>adan config keys</c>
/// prints. It is read from the binder's own contract (<see cref="ConfigBinder"/>'s JSON properties of
/// <see cref="TrainConfig"/>, and <see cref="OptimizerSections"/>' of each optimizer's options record) and from the
/// attributes the validator reads (<see cref="RangeAttribute"/>), so the listing cannot name a key the binder refuses,
/// miss one it accepts, or show a range validation does not apply.
/// </summary>
internal static class ConfigKeys
{
    private static readonly Lazy<IReadOnlyList<ConfigKey>> s_all = new(Build);

    /// <summary>
    /// The top-level keys in declaration order, then each optimizer's section keys (<c>adan.lr</c>, ...) in registry
    /// order.
    /// </summary>
    /// <exception cref="InvalidOperationException">A key has no description (a <see cref="ConfigKeyAttribute"/> or, in a section, a <see cref="DescriptionAttribute"/>).</exception>
    public static IReadOnlyList<ConfigKey> All => s_all.Value;

    /// <summary>The architecture keys (<see cref="ConfigKeyAttribute.Architecture"/>), in declaration order.</summary>
    public static IEnumerable<ConfigKey> Architecture => All.Where(key => key.Architecture);

    private static List<ConfigKey> Build()
    {
        var defaults = new TrainConfig();
        var keys = new List<ConfigKey>();
        foreach (var property in ConfigBinder.Contract)
        {
            var member = ConfigBinder.Member(property);
            var key = member.GetCustomAttribute<ConfigKeyAttribute>()
                ?? throw new InvalidOperationException($"TrainConfig.{member.Name} (key '{property.Name}') has no [ConfigKey] description; every key the binder accepts is listed by adan config keys.");
            keys.Add(new ConfigKey(property.Name, TypeName(property.PropertyType), ConfigBinder.Format(property.Get!(defaults)),
                property.Name == "optimizer" ? string.Join(" | ", OptimizerRegistry.Names) : key.Values ?? RangeOf(property.PropertyType, member),
                key.Description, key.Architecture));
        }
        foreach (var optimizer in OptimizerRegistry.Names)
        {
            var options = OptimizerSections.ToJson(OptimizerRegistry.Get(optimizer).DefaultOptions());
            var contract = OptimizerSections.Json.GetTypeInfo(OptimizerRegistry.Get(optimizer).OptionsType);
            foreach (var property in contract.Properties.Where(p => p.Get is not null))
            {
                var member = (MemberInfo)property.AttributeProvider!;
                var name = $"{optimizer}.{property.Name}";
                var description = member.GetCustomAttribute<DescriptionAttribute>()?.Description
                    ?? throw new InvalidOperationException($"{contract.Type.Name}.{member.Name} (key '{name}') has no [Description]; every key the binder accepts is listed by adan config keys.");
                // The config refuses a peak learning rate the options record alone would take (0, or above the cap).
                var range = property.Name == "lr" ? TrainConfig.LearningRateRange : RangeOf(property.PropertyType, member);
                keys.Add(new ConfigKey(name, TypeName(property.PropertyType), options[property.Name]?.ToJsonString() ?? "null", range, description, false));
            }
        }
        return keys;
    }

    private static string TypeName(Type type) =>
        type == typeof(bool) ? "boolean"
        : type == typeof(string) ? "string"
        : type == typeof(double) ? "number"
        : type == typeof(double[]) ? "number array"
        : type == typeof(int) || type == typeof(long) ? "integer"
        : type.IsEnum ? "choice"
        : throw new InvalidOperationException($"config keys of type {type.Name} have no type name for adan config keys.");

    private static string RangeOf(Type type, MemberInfo member)
    {
        if (member.GetCustomAttribute<RangeAttribute>() is { } range)
        {
            return type.IsArray ? $"{ConfigBinder.Describe(range)} each" : ConfigBinder.Describe(range);
        }
        if (type == typeof(bool) || type.IsEnum)
        {
            return ConfigBinder.Choices(type);
        }
        return member.GetCustomAttribute<RequiredAttribute>() is not null ? "any non-empty text" : "any text";
    }
}
