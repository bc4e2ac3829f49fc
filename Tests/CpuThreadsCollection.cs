namespace FerEngine.Tests;

/// <summary>
/// The classes whose tests set <see cref="FerEngine.Backends.Cpu.CpuFastBackend.Threads"/>, a process-wide
/// setting: directly, to compare results across thread counts, or through DeviceChoice.Resolve when
/// they run a `fer` command. xunit runs the classes of one collection one after another, so a test that
/// sets 1 and then 3 threads computes with those counts, not with what a test running beside it set.
/// Other tests only read the setting, and their results do not depend on it.
/// </summary>
[CollectionDefinition(Name)]
public sealed class CpuThreadsCollection
{
    public const string Name = "CpuFastBackend.Threads";

    /// <summary>Runs body with <see cref="FerEngine.Backends.Cpu.CpuFastBackend.Threads"/> set to threads, then puts the setting back.</summary>
    public static void WithThreads(int threads, Action body) => WithThreads(threads, () => { body(); return 0; });

    /// <summary>body's result, computed with <see cref="FerEngine.Backends.Cpu.CpuFastBackend.Threads"/> set to threads; the setting is put back.</summary>
    public static T WithThreads<T>(int threads, Func<T> body)
    {
        int saved = FerEngine.Backends.Cpu.CpuFastBackend.Threads;
        FerEngine.Backends.Cpu.CpuFastBackend.Threads = threads;
        try { return body(); }
        finally { FerEngine.Backends.Cpu.CpuFastBackend.Threads = saved; }
    }
}
