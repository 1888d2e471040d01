using System.Text.Json;
using System.Text.Json.Serialization;
using Adan.Sharded.Zero;

namespace Adan.Sharded.Training.Config;

/// <summary>
/// Reads <c>zero_stage</c> as the stage number (0, 1, 2), as config files and the ZeRO paper give it, or as the
/// config spelling of the library's <see cref="ZeroStage"/> member (<c>replicated</c>, <c>optimizer-state</c>,
/// <c>gradients</c>); writes the number, so the printed config reads as the files do.
/// </summary>
/// <remarks>
/// A number outside the enum is read as it is, so that validation refuses it with the valid stages named rather than
/// the serializer with a bare conversion error.
/// </remarks>
internal sealed class ZeroStageJsonConverter : JsonConverter<ZeroStage>
{
    public override ZeroStage Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var number))
        {
            return (ZeroStage)number;
        }
        if (reader.TokenType == JsonTokenType.String)
        {
            var name = reader.GetString();
            foreach (var stage in Enum.GetValues<ZeroStage>())
            {
                if (name == JsonNamingPolicy.KebabCaseLower.ConvertName(stage.ToString()))
                {
                    return stage;
                }
            }
        }
        throw new JsonException();
    }

    public override void Write(Utf8JsonWriter writer, ZeroStage value, JsonSerializerOptions options) =>
        writer.WriteNumberValue((int)value);
}
