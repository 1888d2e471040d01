using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Adan.Sharded.Tests")]
[assembly: InternalsVisibleTo("Adan.MultiRank")]
[assembly: InternalsVisibleTo("adan")]
[assembly: InternalsVisibleTo("Worker.Tests")]
