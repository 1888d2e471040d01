using Adan.Worker.Commands;
using Adan.Sharded.Training;

namespace Adan.Worker.Tests.Training;

/// <summary>Steps-to-target interpolates between the evaluations around the crossing; never reaching it is censored.</summary>
public class StepsToTargetTests
{
    private static readonly MetricTarget Accuracy = MetricTarget.Parse("val_accuracy=0.88");

    [Fact]
    public void InterpolatesLinearlyBetweenTheEvaluationsAroundTheCrossing()
    {
        var found = StepsToTarget.Find([(100, 25600, 0.80), (200, 51200, 0.86), (300, 76800, 0.90), (400, 102400, 0.87)], Accuracy)!.Value;
        Assert.True(found.Reached);
        Assert.Equal(250, found.Step, 1e-9);
        Assert.Equal(64000, found.Samples, 1e-6);
    }

    [Fact]
    public void NeverReachedIsCensoredAtTheLastEvaluation()
    {
        var found = StepsToTarget.Find([(100, 25600, 0.80), (200, 51200, 0.86)], Accuracy)!.Value;
        Assert.False(found.Reached);
        Assert.Equal(200, found.Step);
        Assert.Null(StepsToTarget.Find([], Accuracy));
    }

    [Fact]
    public void LossTargetsAreReachedFromAbove()
    {
        var found = StepsToTarget.Find([(10, 100, 0.6), (20, 200, 0.3)], MetricTarget.Parse("val_loss=0.4"))!.Value;
        Assert.True(found.Reached);
        Assert.Equal(10 + 10 * (0.2 / 0.3), found.Step, 1e-9);
        var first = StepsToTarget.Find([(10, 100, 0.35)], MetricTarget.Parse("val_loss=0.4"))!.Value;
        Assert.Equal(10, first.Step);
    }

    [Theory]
    [InlineData("val_accuracy", "not metric=value")]
    [InlineData("train_loss=0.3", "unknown metric 'train_loss'")]
    [InlineData("val_accuracy=88", "accuracy is a fraction")]
    [InlineData("val_loss=abc", "is not a finite number")]
    [InlineData("val_loss=-1", "must be > 0")]
    public void BadTargetsGetOneLineNamingTheFix(string text, string message)
    {
        var error = Assert.Throws<UsageException>(() => MetricTarget.Parse(text));
        Assert.Contains(message, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }
}
