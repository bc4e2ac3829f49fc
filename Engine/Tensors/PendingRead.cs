namespace FerEngine;

/// <summary>
/// Values on their way from a device to the host. A GPU queues the copy behind the work already on
/// its stream and returns at once, so the host can queue more work (the next training step) before
/// it waits; <see cref="Wait"/> then blocks only until the copy itself has run. On the CPU the
/// values are copied when the read is made, and <see cref="Wait"/> returns them at once.
/// </summary>
public sealed class PendingRead<T> where T : unmanaged
{
    private Func<T[]>? _wait;
    private T[]? _values;

    /// <param name="wait">blocks until the copy has run and returns the values; called once</param>
    public PendingRead(Func<T[]> wait) => _wait = wait;

    /// <summary>A read whose values are already on the host.</summary>
    public static PendingRead<T> Done(T[] values) => new(() => values);

    /// <summary>The values, once the device has copied them (the first call may block; later calls return the same array).</summary>
    public T[] Wait()
    {
        if (_values is null)
        {
            _values = _wait!();
            _wait = null;
        }
        return _values;
    }
}
