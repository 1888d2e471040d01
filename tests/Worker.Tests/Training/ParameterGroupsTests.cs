using Adan.Sharded.Collectives;
using Adan.Sharded.Flat;
using Adan.Sharded.Zero;
using Adan.Sharded.Training.Config;
using Adan.Sharded.Training.Models;
using Adan.Sharded.Training;

namespace Adan.Worker.Tests.Training;

/// <summary>
/// <c>no_decay_bias_norm</c>: biases and normalisation weights in a group without weight decay, as timm's
/// <c>param_groups_weight_decay</c> splits them, handed to the engine as they are.
/// </summary>
public class ParameterGroupsTests
{
    [Fact]
    public void WithoutTheSwitchEveryParameterIsInTheSectionsOneGroup()
    {
        var config = ConfigBinder.Bind(null, ["model=mlp", "adan.weight_decay=0.05"]);
        using var model = ModelFactory.Create(config);
        using var flat = FlatParameters.FromModule(model, 1);
        var group = Assert.Single(ParameterGroups.Of(config, flat.Layout.Entries.Select(e => (e.Name, e.Shape))));
        Assert.Equal(config.OptimizerOptions(), group.Options);
        Assert.Equal(Enumerable.Range(0, flat.Layout.Entries.Count), group.Parameters);
    }

    [Theory]
    [InlineData("adan")]
    [InlineData("lamb")]
    [InlineData("adamw")]
    [InlineData("sgd")]
    public void BiasesAndNormWeightsGetASecondGroupWithoutWeightDecay(string optimizer)
    {
        var config = ConfigBinder.Bind(null, ["model=resnet", $"optimizer={optimizer}", $"{optimizer}.weight_decay=0.05", "no_decay_bias_norm=true"]);
        using var model = ModelFactory.Create(config);
        using var flat = FlatParameters.FromModule(model, 1);
        var entries = flat.Layout.Entries;
        var groups = ParameterGroups.Of(config, entries.Select(e => (e.Name, e.Shape)));

        Assert.Equal(2, groups.Count);
        var (exempt, decayed) = (groups[0], groups[1]);
        Assert.Equal(0, exempt.Options.WeightDecay);
        Assert.Equal(0.05, decayed.Options.WeightDecay);
        Assert.Equal(config.OptimizerOptions(), decayed.Options);
        Assert.Equal(config.OptimizerOptions().WithoutWeightDecay(), exempt.Options);
        Assert.Equal(Enumerable.Range(0, entries.Count).Where(i => entries[i].Shape.Length == 1), exempt.Parameters);
        Assert.Equal(Enumerable.Range(0, entries.Count).Where(i => entries[i].Shape.Length > 1), decayed.Parameters);
        // The ResNet's BatchNorm weights and biases and its head's bias; its convolutions have none.
        Assert.Contains(exempt.Parameters, i => entries[i].Name == "stem_norm.weight");
        Assert.Contains(exempt.Parameters, i => entries[i].Name == "head.bias");

        using var collective = new SingleProcessCollective();
        using var engine = new ShardedOptimizer(flat, collective, OptimizerRegistry.Get(optimizer).CreateRule(), groups);
        Assert.Equal(groups.Select(g => g.Parameters), engine.Groups.Select(g => g.ParameterIndices.ToArray()));
        Assert.Equal([0, 0.05], engine.Groups.Select(g => g.Options.WeightDecay));
    }

    [Fact]
    public void AModelWithoutBiasesOrNormsKeepsOneGroup()
    {
        var config = new TrainConfig { NoDecayBiasNorm = true };
        var group = Assert.Single(ParameterGroups.Of(config, [("a.weight", [3, 4]), ("b.weight", [4, 4])]));
        Assert.Equal([0, 1], group.Parameters);
        Assert.Equal(config.OptimizerOptions(), group.Options);
        Assert.True(ParameterGroups.IsBiasOrNorm("fc.bias", [3, 1]));
        Assert.True(ParameterGroups.IsBiasOrNorm("scale", []));
        Assert.False(ParameterGroups.IsBiasOrNorm("fc.biased", [3, 1]));
    }
}
