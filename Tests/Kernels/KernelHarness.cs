using FerEngine.Kernels;
using FerEngine.Kernels.Emulator;

namespace FerEngine.Tests.Kernels;

/// <summary>Runs catalogue kernels and hand-written PTX snippets in the emulator.</summary>
internal static class KernelHarness
{
    /// <summary>Wraps an entry body in a module: the header every kernel file uses, one .entry named "test".</summary>
    public static string Module(string body, string parameters = ".param .u64 test_out") =>
        ".version 7.8\n.target sm_80\n.address_size 64\n" +
        $".visible .entry test(\n    {parameters}\n)\n{{\n{body}\n}}\n";

    /// <summary>Runs the "test" entry of <paramref name="body"/> with one output buffer of <paramref name="outputs"/> 64-bit words.</summary>
    public static ulong[] RunWithOutput(string body, int outputs, LaunchGrid? grid = null, KernelTrace? trace = null)
    {
        var kernel = PtxParser.Parse(Module(body), "test.ptx")["test"];
        var memory = new EmulatedMemory();
        ulong output = memory.Allocate(outputs * 8L);
        PtxInterpreter.Launch(kernel, grid ?? LaunchGrid.Linear(1, 1), memory, [output], trace);
        return memory.Read<ulong>(output, outputs);
    }

    public static float[] RandomFloats(int count, ulong stream, float low = -3, float high = 3)
    {
        var values = new double[count];
        FerEngine.Random.Philox.FillUniform(values, seed: 1234, stream, low, high);
        return Array.ConvertAll(values, v => (float)v);
    }

    /// <summary>Launches catalogue kernel <paramref name="name"/> with the catalogue's launch shape for <paramref name="count"/>.</summary>
    public static void Launch(EmulatedMemory memory, string name, long count, params object[] arguments) =>
        PtxInterpreter.Launch(KernelCatalog.Emulated(name), KernelCatalog.Get(name).LaunchFor(count), memory, arguments);

    /// <summary>|actual - expected| &lt;= absolute + relative * |expected| everywhere (NaN matches NaN, an infinity itself).</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double absolute, double relative, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (float.IsNaN(expected[i]) && float.IsNaN(actual[i]) || expected[i] == actual[i]) continue;   // equal infinities too
            double error = Math.Abs((double)actual[i] - expected[i]);
            if (!(error <= absolute + relative * Math.Abs(expected[i])))
                Assert.Fail($"{what}: element {i} of {expected.Length} is {actual[i]:R}, expected {expected[i]:R} (error {error:E2}, allowed {absolute} + {relative} * |expected|).");
        }
    }
}
