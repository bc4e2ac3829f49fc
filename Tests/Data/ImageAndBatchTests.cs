using FerEngine.Backends.Cpu;
using FerEngine.Random;
using FerEngine.Model.Data;

namespace FerEngine.Tests.Data;

public class ImageAndBatchTests
{
    [Fact]
    public void Shrinking_averages_areas_and_enlarging_interpolates_bilinearly()
    {
        float[] pattern = [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60];   // 4x4
        Assert.Equal([10f, 18f, 42f, 50f], ImageConversion.Resize(pattern, 4, 4, 2, 2)); // means of the 2x2 blocks
        float[] small = [0, 100, 200, 40];                                                 // 2x2
        var big = ImageConversion.Resize(small, 2, 2, 4, 4);
        // Row 0 of the 4x4: source x = clamp((i + 0.5) / 2 - 0.5) = 0, 0.25, 0.75, 1 -> 0, 25, 75, 100
        Assert.Equal([0f, 25f, 75f, 100f], big[..4]);
        // Row 1 (source y 0.25): 0.75 * row 0 + 0.25 * row 1 at x = 0: 0.75 * 0 + 0.25 * 200 = 50
        Assert.Equal(50f, big[4]);
    }

    [Fact]
    public void Grey_uses_bt601_luma()
    {
        byte[] rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30];
        var grey = ImageConversion.Convert(rgb, 2, 2, 1, 2, 2);
        Assert.Equal([(byte)76, (byte)150, (byte)29, (byte)Math.Round(0.299 * 10 + 0.587 * 20 + 0.114 * 30)], grey);
    }

    [Fact]
    public void Augmentation_moves_pixels_as_documented()
    {
        byte[] image = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();   // 1 x 4 x 4, value = y * 4 + x
        var output = new float[16];
        ReferenceLoops<float>.AugmentImage(image, 1, 4, 4, new ImageAugmentation.Choice(Dx: 1, Dy: -1, Flip: false), output);
        Assert.Equal(1 / 255f, output[0]);                     // (0,0) <- (clamp(-1)=0, 1)
        Assert.Equal(3 / 255f, output[3]);                     // (0,3) <- (0, clamp(4)=3): replicate padding
        Assert.Equal(1 / 255f, output[4]);                     // (1,0) <- (0, 1): row 1 reads row 0
        ReferenceLoops<float>.AugmentImage(image, 1, 4, 4, new ImageAugmentation.Choice(0, 0, Flip: true), output);
        Assert.Equal([3 / 255f, 2 / 255f, 1 / 255f, 0f], output[..4]);
        var choices = Enumerable.Range(0, 500).Select(i => Augmentation.Decide(7, 2, i)).ToList();
        Assert.All(choices, c => { Assert.InRange(c.Dx, -4, 4); Assert.InRange(c.Dy, -4, 4); });
        Assert.InRange(choices.Count(c => c.Flip), 200, 300);
        Assert.Equal(choices, Enumerable.Range(0, 500).Select(i => Augmentation.Decide(7, 2, i)));
        Assert.NotEqual(choices, Enumerable.Range(0, 500).Select(i => Augmentation.Decide(7, 3, i)));
    }

    [Fact]
    public void Epoch_order_is_a_seeded_permutation()
    {
        var order = EpochOrder.Shuffle(1000, seed: 1, epoch: 0);
        Assert.Equal(Enumerable.Range(0, 1000), order.Order());
        Assert.Equal(order, EpochOrder.Shuffle(1000, 1, 0));
        Assert.NotEqual(order, EpochOrder.Shuffle(1000, 1, 1));
        Assert.NotEqual(order, EpochOrder.Shuffle(1000, 2, 0));
    }

    [Fact]
    public void Synthetic_faces_are_deterministic_and_cover_every_class()
    {
        var a = SyntheticFaces.Generate(2000, 10, seed: 4, 1, 48, 48);
        var b = SyntheticFaces.Generate(2000, 10, seed: 4, 1, 48, 48);
        Assert.Equal(a.Train[17].Pixels, b.Train[17].Pixels);
        Assert.Equal(a.Train[17].Labels, b.Train[17].Labels);
        Assert.Equal(7, a.Train.Select(s => s.Labels.Emotion).Distinct().Count());
        Assert.Equal(3, a.Train.Select(s => s.Labels.Gender).Distinct().Count());
        Assert.Equal(3, a.Train.Select(s => s.Labels.Race).Distinct().Count());
        Assert.Equal(5, a.Train.Select(s => s.Labels.Age).Distinct().Count());
        // Emotion and race are squares: at each class's place, the pixels are bright for the image's own
        // class and background for the others (a 2x2 block that every jitter of the square covers).
        double Block(FaceSample s, int x, int y) => (s.Pixels[y * 48 + x] + s.Pixels[y * 48 + x + 1] + s.Pixels[(y + 1) * 48 + x] + s.Pixels[(y + 1) * 48 + x + 1]) / 4.0;
        double Emotion(FaceSample s, int k) => Block(s, (int)Math.Round(20 + 11 * Math.Cos(2 * Math.PI * k / 7)) + 2, (int)Math.Round(20 + 11 * Math.Sin(2 * Math.PI * k / 7)) + 2);
        double Race(FaceSample s, int r) => Block(s, 43, 16 + 9 * r);
        foreach (var sample in a.Train.Take(200))
        {
            for (int k = 0; k < 7; k++)
                Assert.True(k == sample.Labels.Emotion ? Emotion(sample, k) > 180 : Emotion(sample, k) < 100, $"{sample.Source} emotion {k}");
            for (int r = 0; r < 3; r++)
                Assert.True(r == sample.Labels.Race ? Race(sample, r) > 180 : Race(sample, r) < 100, $"{sample.Source} race {r}");
        }
    }

    [Fact]
    public void Batches_hold_pixels_over_255_and_int64_labels_with_missing_as_minus_one()
    {
        var data = new FaceDataset(1, 2, 2);
        data.Train.Add(new FaceSample([0, 51, 102, 255], new FaceLabels(Emotion: 4), "a"));
        data.Train.Add(new FaceSample([255, 255, 0, 0], new FaceLabels(Gender: 1, Age: 3), "b"));
        var (x, labels) = BatchBuilder.Build(data, data.Train, [1, 0], Device.Cpu);
        Assert.Equal(new Shape(2, 1, 2, 2), x.Shape);
        Assert.Equal([1f, 1f, 0f, 0f, 0f, 0.2f, 0.4f, 1f], x.ToArray<float>());
        Assert.Equal([-1L, 4L], labels[0].ToArray<long>());
        Assert.Equal([1L, -1L], labels[1].ToArray<long>());
        Assert.Equal([3L, -1L], labels[3].ToArray<long>());
        Assert.Equal(DType.Int64, labels[2].DType);
    }

    [Fact]
    public void A_label_outside_its_task_is_refused_when_the_batch_is_built_naming_the_sample()
    {
        var data = new FaceDataset(1, 2, 2);
        data.Train.Add(new FaceSample([0, 0, 0, 0], new FaceLabels(Emotion: 6, Race: 3), "faces/odd.png"));
        var error = Assert.Throws<InvalidDataException>(() => BatchBuilder.Build(data, data.Train, [0], Device.Cpu));
        Assert.Equal("faces/odd.png: Race label 3 is outside 0..2 (or -1 for none).", error.Message);
    }

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
