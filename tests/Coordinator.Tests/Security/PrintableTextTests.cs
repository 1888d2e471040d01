using Adan.Coordinator.Protocol;

namespace Adan.Coordinator.Tests.Security;

/// <summary>What the coordinator logs and <c>adan</c> prints of a client's text cannot drive a terminal or forge a line.</summary>
public sealed class PrintableTextTests
{
    [Theory]
    [InlineData("ok\u001b[2Jcleared", "ok [2Jcleared")]
    [InlineData("line\r\nforged: job finished", "line  forged: job finished")]
    [InlineData("bell\u0007del\u007fcsi\u009b31m", "bell del csi 31m")]
    [InlineData("name\u202Egnp.exe\u2066x\u2069", "name gnp.exe x ")]
    public void ControlAndReorderingCharactersBecomeSpaces(string sent, string printed) => Assert.Equal(printed, PrintableText.Of(sent));

    [Fact]
    public void PrintableTextIsReturnedAsIs()
    {
        const string text = "rank 1 (nœud-1 pid 42) failed: CUDA out of memory — 2.0 GiB ✓";
        Assert.Same(text, PrintableText.Of(text));
    }
}
