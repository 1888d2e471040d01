using System.Globalization;
using System.Reflection;
using System.Runtime.Serialization;
using System.Text;
using System.Text.Json;

namespace Adan.Worker.Config;

/// <summary>
/// Binds <see cref="TrainConfig"/> from a JSON object of snake_case keys and from
/// <c>key=value</c> overrides. Both go through one parser per key, so a value is accepted or
/// rejected with the same message wherever it comes from.
/// </summary>
public static class ConfigBinder
{
    /// <summary>The composite key that sets <c>beta1</c>, <c>beta2</c> and <c>beta3</c> at once.</summary>
    public const string BetasKey = "betas";

    private static readonly IReadOnlyList<(string Key, PropertyInfo Property)> s_keys = typeof(TrainConfig)
        .GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(property => property.CanWrite)
        .OrderBy(property => property.MetadataToken)
        .Select(property => (JsonNamingPolicy.SnakeCaseLower.ConvertName(property.Name), property))
        .ToArray();

    private static readonly Dictionary<string, PropertyInfo> s_byKey =
        s_keys.ToDictionary(entry => entry.Key, entry => entry.Property, StringComparer.Ordinal);

    /// <summary>Every key, in declaration order (plus <see cref="BetasKey"/>).</summary>
    public static IEnumerable<string> Keys => s_keys.Select(entry => entry.Key).Append(BetasKey);

    /// <summary>
    /// Loads <paramref name="configFile"/> (when not null), applies <paramref name="overrides"/>
    /// (<c>key=value</c>, later ones win) and validates the result.
    /// </summary>
    /// <exception cref="ConfigException">A file, key or value is invalid.</exception>
    public static TrainConfig Load(string? configFile, IEnumerable<string>? overrides)
    {
        var config = new TrainConfig();
        if (configFile is not null)
        {
            if (!File.Exists(configFile))
            {
                throw new ConfigException($"Config file '{configFile}' not found.");
            }
            config = FromJson(File.ReadAllText(configFile), config, configFile);
        }
        config = ApplyOverrides(config, overrides ?? []);
        config.Validate();
        return config;
    }

    /// <summary>Applies the keys of the JSON object <paramref name="json"/> on top of <paramref name="baseline"/>.</summary>
    /// <param name="json">A JSON object of snake_case keys.</param>
    /// <param name="baseline">The values for keys the JSON does not set.</param>
    /// <param name="source">Names the JSON in errors (e.g. the file path).</param>
    /// <exception cref="ConfigException">The JSON is malformed or a key or value is invalid.</exception>
    public static TrainConfig FromJson(string json, TrainConfig? baseline = null, string source = "config")
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ConfigException($"{source} is not valid JSON: {e.Message}");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ConfigException($"{source} must hold a JSON object of snake_case keys, found {document.RootElement.ValueKind}.");
            }
            var config = baseline ?? new TrainConfig();
            foreach (var member in document.RootElement.EnumerateObject())
            {
                config = Set(config, member.Name, JsonText(member.Name, member.Value));
            }
            return config;
        }
    }

    /// <summary>Applies <c>key=value</c> overrides in order.</summary>
    /// <exception cref="ConfigException">An override is not key=value, or its key or value is invalid.</exception>
    public static TrainConfig ApplyOverrides(TrainConfig config, IEnumerable<string> overrides)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(overrides);
        foreach (var assignment in overrides)
        {
            var equals = assignment.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new ConfigException($"--set '{assignment}' is not key=value (e.g. --set lr=0.001).");
            }
            config = Set(config, assignment[..equals].Trim(), assignment[(equals + 1)..].Trim());
        }
        return config;
    }

    /// <summary>Returns a copy of <paramref name="config"/> with <paramref name="key"/> parsed from <paramref name="value"/>.</summary>
    /// <exception cref="ConfigException">The key is unknown or the value does not parse or is out of range.</exception>
    public static TrainConfig Set(TrainConfig config, string key, string value)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (key == BetasKey)
        {
            return SetBetas(config, value);
        }
        if (!s_byKey.TryGetValue(key, out var property))
        {
            throw new ConfigException($"Unknown config key '{key}'; valid keys: {string.Join(", ", Keys)}.");
        }
        var parsed = Parse(key, property, value);
        var copy = config with { };
        property.SetValue(copy, parsed);
        return copy;
    }

    /// <summary>Checks every range and choice, then the combinations; see <see cref="TrainConfig.Validate"/>.</summary>
    /// <exception cref="ConfigException">Names the first offending key and its valid range.</exception>
    public static void Validate(TrainConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        foreach (var (key, property) in s_keys)
        {
            var value = property.GetValue(config);
            if (property.GetCustomAttribute<ConfigRangeAttribute>() is { } range
                && !range.Contains(Convert.ToDouble(value, CultureInfo.InvariantCulture)))
            {
                throw new ConfigException($"Invalid {key}: {Format(value)}; valid range is {range.Describe()}.");
            }
            if (property.PropertyType.IsEnum && !Enum.IsDefined(property.PropertyType, value!))
            {
                throw new ConfigException($"Invalid {key}: {value}; valid choices are {Choices(property.PropertyType)}.");
            }
            if (property.PropertyType == typeof(string) && string.IsNullOrWhiteSpace((string?)value))
            {
                throw new ConfigException($"Invalid {key}: empty; it needs a value.");
            }
        }

        var isText = config.Dataset == DatasetKind.Text;
        if (isText != (config.Model == ModelKind.Gpt))
        {
            throw new ConfigException(
                $"Invalid dataset: {Name(config.Dataset)} with model {Name(config.Model)}; the gpt model needs dataset text and the image models need fashion-mnist.");
        }
        if (config.GptEmbedding % config.GptHeads != 0)
        {
            throw new ConfigException($"Invalid gpt_embedding: {config.GptEmbedding}; it must be divisible by gpt_heads = {config.GptHeads}.");
        }
        if (config.VitEmbedding % config.VitHeads != 0)
        {
            throw new ConfigException($"Invalid vit_embedding: {config.VitEmbedding}; it must be divisible by vit_heads = {config.VitHeads}.");
        }
        if (28 % config.VitPatch != 0)
        {
            throw new ConfigException($"Invalid vit_patch: {config.VitPatch}; valid choices are 1, 2, 4, 7, 14, 28 (divisors of 28).");
        }
        if (config.MinLr > config.Lr)
        {
            throw new ConfigException($"Invalid min_lr: {Format(config.MinLr)}; valid range is [0, lr = {Format(config.Lr)}].");
        }
    }

    /// <summary>Renders every key and its effective value, one per line, aligned.</summary>
    public static string Describe(TrainConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var width = s_keys.Max(entry => entry.Key.Length);
        var builder = new StringBuilder();
        foreach (var (key, property) in s_keys)
        {
            builder.Append(key.PadRight(width)).Append(" = ").AppendLine(Format(property.GetValue(config)));
        }
        return builder.ToString();
    }

    /// <summary>The config spelling of an enum value (e.g. <c>fashion-mnist</c>, <c>adamw</c>).</summary>
    public static string Name<TEnum>(TEnum value)
        where TEnum : struct, Enum =>
        Name(typeof(TEnum), value);

    private static string Name(Type type, object value)
    {
        var member = type.GetField(value.ToString()!);
        return member?.GetCustomAttribute<EnumMemberAttribute>()?.Value ?? value.ToString()!.ToLowerInvariant();
    }

    private static string Choices(Type enumType) =>
        string.Join(" | ", Enum.GetValues(enumType).Cast<object>().Select(value => Name(enumType, value)));

    private static string Format(object? value) =>
        value switch
        {
            null => "null",
            bool b => b ? "true" : "false",
            double d => d.ToString("G", CultureInfo.InvariantCulture),
            Enum e => Name(e.GetType(), e),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? string.Empty,
        };

    private static object Parse(string key, PropertyInfo property, string text)
    {
        var type = property.PropertyType;
        var range = property.GetCustomAttribute<ConfigRangeAttribute>();
        if (type.IsEnum)
        {
            foreach (var value in Enum.GetValues(type))
            {
                if (string.Equals(Name(type, value), text, StringComparison.OrdinalIgnoreCase))
                {
                    return value;
                }
            }
            throw new ConfigException($"Invalid {key}: '{text}'; valid choices are {Choices(type)}.");
        }
        if (type == typeof(string))
        {
            return text;
        }
        if (type == typeof(bool))
        {
            return text.ToLowerInvariant() switch
            {
                "true" or "1" or "yes" => true,
                "false" or "0" or "no" => false,
                _ => throw new ConfigException($"Invalid {key}: '{text}'; valid choices are true | false."),
            };
        }

        var rangeText = range is null ? string.Empty : $" in {range.Describe()}";
        object? number = null;
        double numeric = double.NaN;
        if (type == typeof(int) && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i))
        {
            (number, numeric) = (i, i);
        }
        else if (type == typeof(long) && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l))
        {
            (number, numeric) = (l, l);
        }
        else if (type == typeof(double) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d))
        {
            (number, numeric) = (d, d);
        }
        var kind = type == typeof(double) ? "a number" : "an integer";
        if (number is null)
        {
            throw new ConfigException($"Invalid {key}: '{text}'; expected {kind}{rangeText}.");
        }
        if (range is not null && !range.Contains(numeric))
        {
            throw new ConfigException($"Invalid {key}: '{text}'; valid range is {range.Describe()}.");
        }
        return number;
    }

    private static TrainConfig SetBetas(TrainConfig config, string text)
    {
        var parts = text.Trim('[', ']', '(', ')').Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 3)
        {
            throw new ConfigException($"Invalid {BetasKey}: '{text}'; expected three numbers β1,β2,β3 each in [0, 0.999999] (e.g. 0.98,0.92,0.99).");
        }
        try
        {
            config = Set(config, "beta1", parts[0]);
            config = Set(config, "beta2", parts[1]);
            return Set(config, "beta3", parts[2]);
        }
        catch (ConfigException e)
        {
            throw new ConfigException($"Invalid {BetasKey}: '{text}'; {e.Message}");
        }
    }

    private static string JsonText(string key, JsonElement value) =>
        value.ValueKind switch
        {
            JsonValueKind.String => value.GetString()!,
            JsonValueKind.Number => value.GetRawText(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            JsonValueKind.Array when key == BetasKey => string.Join(",", value.EnumerateArray().Select(item => item.GetRawText())),
            _ => throw new ConfigException($"Invalid {key}: {value.GetRawText()}; expected a string, number or boolean."),
        };
}
