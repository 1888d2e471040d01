using System.Globalization;
using System.Text.Json.Nodes;
using Adan.Sharded.Zero;
using Adan.Worker.Commands;
using Adan.Sharded.Training.Config;

namespace Adan.Worker.Tests.Config;

/// <summary>
/// <c>adan config keys</c> lists exactly the keys the binder accepts, each with the default of a default-constructed
/// config and, for an optimizer section's number, the range the section's own check applies.
/// </summary>
public class ConfigKeysTests
{
    [Fact]
    public void TheListingHasEveryKeyTheBinderAcceptsAndNoOther()
    {
        var accepted = ConfigBinder.Keys.Where(key => !OptimizerRegistry.Names.Contains(key))
            .Concat(OptimizerRegistry.Names.SelectMany(optimizer => OptimizerSections.KeysOf(optimizer).Select(key => $"{optimizer}.{key}")));
        Assert.Equal(accepted, ConfigKeys.All.Select(key => key.Name));

        // Every listed key is accepted as the listing spells its default, so the listing names no key the binder refuses.
        foreach (var key in ConfigKeys.All)
        {
            var error = Record.Exception(() => ConfigBinder.Bind(null, [$"{key.Name}={key.Default}"]));
            Assert.True(error is null, $"{key.Name}={key.Default}: {error?.Message}");
        }
        Assert.All(ConfigKeys.All, key => Assert.False(string.IsNullOrWhiteSpace(key.Description), key.Name));
    }

    [Fact]
    public void TheListedDefaultsAreADefaultConstructedConfigsValues()
    {
        var topLevel = ConfigKeys.All.Where(key => !key.Name.Contains('.', StringComparison.Ordinal)).Select(key => $"{key.Name}={key.Default}");
        Assert.Equal(new TrainConfig(), ConfigBinder.Bind(null, topLevel));

        foreach (var optimizer in OptimizerRegistry.Names)
        {
            var section = ConfigKeys.All.Where(key => key.Name.StartsWith($"{optimizer}.", StringComparison.Ordinal)).Select(key => $"{key.Name}={key.Default}");
            var bound = ConfigBinder.Bind(null, section);
            Assert.Equal(OptimizerRegistry.Get(optimizer).DefaultOptions(), bound.Sections.For(optimizer));
            Assert.True(bound.Sections.Contains(optimizer));
        }
    }

    [Fact]
    public void ASectionsListedRangeIsTheRangeItsCheckApplies()
    {
        var checkedKeys = 0;
        foreach (var key in ConfigKeys.All.Where(key => key.Name.Contains('.', StringComparison.Ordinal) && key.Type is "number" or "number array"))
        {
            // "[0, 1) each", "(0, 10]", "[0, inf)"
            var range = key.Range.Replace(" each", "", StringComparison.Ordinal);
            var bounds = range[1..^1].Split(", ");
            var (low, high) = (double.Parse(bounds[0], CultureInfo.InvariantCulture), bounds[1] == "inf" ? double.PositiveInfinity : double.Parse(bounds[1], CultureInfo.InvariantCulture));
            var (lowIncluded, highIncluded) = (range[0] == '[', range[^1] == ']');
            Accepts(key, lowIncluded ? low : Math.BitIncrement(low), true);
            Accepts(key, lowIncluded ? Math.BitDecrement(low) : low, false);
            if (double.IsFinite(high))
            {
                Accepts(key, highIncluded ? high : Math.BitDecrement(high), true);
                Accepts(key, highIncluded ? Math.BitIncrement(high) : high, false);
            }
            checkedKeys++;
        }
        Assert.True(checkedKeys >= 20, $"{checkedKeys} section numbers checked");
    }

    [Fact]
    public void TheTableAndTheJsonListEveryKeyAndTrainHelpPointsToThem()
    {
        var table = ConfigCommand.KeysAsTable().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(ConfigKeys.All.Count + 1, table.Length);
        Assert.Equal(ConfigKeys.All.Select(key => key.Name), table.Skip(1).Select(line => line.Split(' ')[0]));
        Assert.Contains(table, line => line.StartsWith("tensorboard_dir ", StringComparison.Ordinal) && line.Contains("\"\"", StringComparison.Ordinal));

        var json = JsonNode.Parse(ConfigCommand.KeysAsJson())!.AsArray();
        Assert.Equal(ConfigKeys.All.Select(key => key.Name), json.Select(row => row!["name"]!.GetValue<string>()));
        Assert.Equal(ConfigKeys.All.Select(key => key.Default), json.Select(row => row!["default"]!.GetValue<string>()));

        Assert.Contains("adan config keys", TrainCommand.Create().Description);
    }

    [Fact]
    public void TheArchitectureKeysAreTheModelsAndTheDataset()
    {
        Assert.Equal(
            ["model", "dataset", "mlp_hidden", "resnet_width", "resnet_stages", "resnet_blocks", "vit_patch", "vit_embedding", "vit_layers", "vit_heads",
                "gpt_context", "gpt_layers", "gpt_heads", "gpt_embedding", "gpt_tied_head"],
            ConfigKeys.Architecture.Select(key => key.Name));
    }

    private static void Accepts(ConfigKey key, double value, bool accepted)
    {
        var text = value.ToString("R", CultureInfo.InvariantCulture);
        var assignment = key.Type == "number array"
            ? $"{key.Name}=[{string.Join(",", JsonNode.Parse(key.Default)!.AsArray().Select((_, i) => i == 0 ? text : "0.5"))}]"
            : $"{key.Name}={text}";
        var error = Record.Exception(() => ConfigBinder.Bind(null, [assignment]));
        Assert.True(accepted == error is null, $"{assignment} ({key.Range}): {(accepted ? $"refused: {error?.Message}" : "accepted")}");
        if (!accepted)
        {
            Assert.IsType<ConfigException>(error);
        }
    }
}
