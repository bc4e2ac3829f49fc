using FerEngine.Model.Data;

namespace FerEngine.Tests.Data;

/// <summary>Resizing, colour planes, epoch orders and synthetic faces at the edges the main data tests do not reach.</summary>
public class ImageAndBatchEdgeTests
{
    // shrinking by a non-integer factor (3 -> 2) weights the source cell that straddles an
    // output cell by the part it covers: [0, 30, 60] -> [(0 + 30 / 2) / 1.5, (30 / 2 + 60) / 1.5] = [10, 50].
    // (Shrinking by exactly 2 covers only whole cells.)
    [Fact]
    public void Shrinking_by_a_non_integer_factor_weights_partly_covered_cells()
    {
        Assert.Equal([10f, 50f], ImageConversion.Resize([0f, 30f, 60f], 1, 3, 1, 2));
    }

    // three channels keep R, G and B in their own planes (channel-major).
    [Fact]
    public void Three_channels_keep_red_green_and_blue_planes()
    {
        byte[] rgb = [10, 20, 30, 40, 50, 60];   // two pixels, 1 x 2
        Assert.Equal([(byte)10, (byte)40, (byte)20, (byte)50, (byte)30, (byte)60], ImageConversion.Convert(rgb, 1, 2, 3, 1, 2));
    }

    // the epoch order is a uniform Fisher-Yates shuffle, j in 0..i inclusive, down to i = 1:
    // over many seeds every permutation of 3 items appears (and both of 2), items may stay in place.
    [Fact]
    public void Epoch_order_reaches_every_permutation_including_fixed_points()
    {
        var orders3 = Enumerable.Range(0, 200).Select(s => string.Join(",", EpochOrder.Shuffle(3, (ulong)s, 0))).ToHashSet();
        Assert.Equal(6, orders3.Count);
        Assert.Contains("0,1,2", orders3);
        var orders2 = Enumerable.Range(0, 50).Select(s => string.Join(",", EpochOrder.Shuffle(2, (ulong)s, 0))).ToHashSet();
        Assert.Equal(2, orders2.Count);
    }

    // the age cue is a bright strip on the left edge (Canvas * (a + 1) / 5 rows tall), so even
    // age group 0 has one (9 rows); column 0 holds only the strip or the background (noise +-25).
    [Fact]
    public void Synthetic_age_strip_is_a_plus_1_fifths_of_the_height()
    {
        var data = SyntheticFaces.Generate(200, 0, seed: 11, 1, 48, 48);
        Assert.Contains(data.Train, s => s.Labels.Age == 0);
        foreach (var sample in data.Train)
        {
            int bright = Enumerable.Range(0, 48).Count(y => sample.Pixels[y * 48] >= 170);
            Assert.Equal(48 * (sample.Labels.Age + 1) / 5, bright);
        }
    }

    // the synthetic validation images are drawn from their own random stream: none of them is
    // a copy of a training image (a copy would make the validation accuracy a training accuracy).
    [Fact]
    public void Synthetic_validation_images_are_not_copies_of_training_images()
    {
        var data = SyntheticFaces.Generate(40, 40, seed: 3, 1, 48, 48);
        var train = data.Train.Select(s => Convert.ToBase64String(s.Pixels)).ToHashSet();
        Assert.DoesNotContain(data.Validation, s => train.Contains(Convert.ToBase64String(s.Pixels)));
    }
}
