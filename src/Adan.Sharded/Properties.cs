using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Adan.Sharded.Tests")]
[assembly: InternalsVisibleTo("Adan.MultiRank")]
[assembly: InternalsVisibleTo("adan")]
[assembly: InternalsVisibleTo("Adan.Sharded.Training")]
[assembly: InternalsVisibleTo("Worker.Tests")]
