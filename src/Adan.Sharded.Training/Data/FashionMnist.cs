namespace Adan.Sharded.Training.Data;

/// <summary>
/// Loads Fashion-MNIST (60 000 training and 10 000 test images of 28x28, 10 classes) from its IDX
/// files, gzip-compressed as the Debian package <c>dataset-fashion-mnist</c> installs them or plain.
/// </summary>
internal static class FashionMnist
{
    /// <summary>Where the Debian package installs the files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>Image side in pixels.</summary>
    public const int ImageSize = 28;

    /// <summary>Number of classes.</summary>
    public const int Classes = 10;

    /// <summary>
    /// Mean of the training pixels scaled to [0, 1]; fixed rather than measured so that every rank
    /// and every subset normalises identically.
    /// </summary>
    public const float Mean = 0.2860f;

    /// <summary>Standard deviation of the training pixels scaled to [0, 1].</summary>
    public const float Std = 0.3530f;

    /// <summary>Loads the training split; <paramref name="limit"/> &gt; 0 keeps only the first samples.</summary>
    /// <exception cref="DatasetNotFoundException">The files are not in <paramref name="directory"/>.</exception>
    public static ImageDataset LoadTrain(string directory, int limit = 0) =>
        Load(directory, "train", limit);

    /// <summary>Loads the test split; <paramref name="limit"/> &gt; 0 keeps only the first samples.</summary>
    /// <exception cref="DatasetNotFoundException">The files are not in <paramref name="directory"/>.</exception>
    public static ImageDataset LoadTest(string directory, int limit = 0) =>
        Load(directory, "t10k", limit);

    private static ImageDataset Load(string directory, string prefix, int limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        // A subset reads (and decompresses) only its own samples: 1 MB of the 47 MB training images for 1,000.
        var images = IdxFile.Read(Resolve(directory, $"{prefix}-images-idx3-ubyte"), limit);
        var labels = IdxFile.Read(Resolve(directory, $"{prefix}-labels-idx1-ubyte"), limit);
        if (images.Shape.Count != 3 || images.Shape[1] != ImageSize || images.Shape[2] != ImageSize)
        {
            throw new InvalidDataException(
                $"{prefix} images have shape [{string.Join(", ", images.Shape)}], expected [N, {ImageSize}, {ImageSize}].");
        }
        if (labels.Shape.Count != 1 || labels.DeclaredItems != images.DeclaredItems)
        {
            throw new InvalidDataException(
                $"{prefix} labels have shape [{string.Join(", ", labels.Shape.Skip(1).Prepend(labels.DeclaredItems))}], expected [{images.DeclaredItems}].");
        }
        if (labels.Data.Any(label => label >= Classes))
        {
            throw new InvalidDataException($"{prefix} labels contain a class outside [0, {Classes}).");
        }

        return new ImageDataset(images.Data, labels.Data, ImageSize, ImageSize, Mean, Std);
    }

    /// <summary>
    /// The path of <paramref name="name"/> in <paramref name="directory"/>, uncompressed if present,
    /// else with <c>.gz</c>.
    /// </summary>
    /// <exception cref="DatasetNotFoundException">Neither exists.</exception>
    public static string Resolve(string directory, string name)
    {
        var plain = Path.Combine(directory, name);
        if (File.Exists(plain))
        {
            return plain;
        }
        var compressed = plain + ".gz";
        if (File.Exists(compressed))
        {
            return compressed;
        }
        throw new DatasetNotFoundException(
            $"Fashion-MNIST file {name}(.gz) not found in '{directory}': install the Debian package dataset-fashion-mnist " +
            "(apt-get install dataset-fashion-mnist) or set data_dir to a directory holding the IDX files.");
    }
}
