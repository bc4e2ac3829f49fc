using FerEngine.Random;

namespace FerEngine.Model.Data;

/// <summary>
/// The order of the training samples in an epoch: a Fisher-Yates shuffle driven by Philox,
/// for i = n-1 down to 1: j = Word(seed, Shuffle + epoch, i) mod (i + 1), swap(i, j).
/// A function of (seed, epoch, n) only, so a resumed run sees the same batches.
/// </summary>
public static class EpochOrder
{
    public static int[] Shuffle(int count, ulong seed, int epoch)
    {
        var order = Enumerable.Range(0, count).ToArray();
        for (int i = count - 1; i > 0; i--)
        {
            int j = (int)(Philox.Word(seed, RandomStreams.Shuffle + (ulong)epoch, (ulong)i) % (uint)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
