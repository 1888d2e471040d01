namespace Adan.MultiRank;

/// <summary>Assertions for scenarios: a failure throws with a message that names what differed.</summary>
internal static class Check
{
    public static void That(bool condition, string message)
    {
        if (!condition)
        {
            throw new InvalidOperationException(message);
        }
    }

    public static void Equal(float[] expected, float[] actual, string what)
    {
        That(expected.Length == actual.Length, $"{what}: length {actual.Length}, expected {expected.Length}");
        for (var i = 0; i < expected.Length; i++)
        {
            That(expected[i] == actual[i], $"{what}[{i}] = {actual[i]}, expected {expected[i]}");
        }
    }

    public static T Throws<T>(Action action, string what) where T : Exception
    {
        try
        {
            action();
        }
        catch (T e)
        {
            return e;
        }
        throw new InvalidOperationException($"{what}: expected {typeof(T).Name}, nothing was thrown");
    }
}
