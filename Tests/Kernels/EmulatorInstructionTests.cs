using FerEngine.Kernels.Emulator;
using static FerEngine.Tests.Kernels.KernelHarness;

namespace FerEngine.Tests.Kernels;

/// <summary>The emulator's instruction semantics, each pinned down by a tiny hand-written PTX kernel.</summary>
public class EmulatorInstructionTests
{
    private const string Prologue = """
        .reg .pred %p<8>;
        .reg .b32 %r<16>;
        .reg .f32 %f<16>;
        .reg .f64 %fd<8>;
        .reg .b64 %rd<16>;
        ld.param.u64 %rd1, [test_out];
        """;

    [Fact]
    public void Cvt_rounds_as_its_modifier_says_and_saturates_float_to_int()
    {
        var r = RunWithOutput(Prologue + """
            cvt.rni.s32.f32 %r1, 0f40200000;        // 2.5 -> 2 (ties to even)
            cvt.rni.s32.f32 %r2, 0f40600000;        // 3.5 -> 4
            cvt.rzi.s32.f32 %r3, 0fC02CCCCD;        // -2.7 -> -2
            cvt.rmi.s32.f32 %r4, 0fC02CCCCD;        // -2.7 -> -3
            cvt.rzi.s32.f32 %r5, 0f501502F9;        // 1e10 -> int max (saturates)
            cvt.rzi.s32.f32 %r6, 0f7FC00000;        // NaN -> 0
            cvt.rzi.u32.f32 %r7, 0fBF800000;        // -1 -> 0 (unsigned saturates)
            cvt.rn.f32.s32 %f1, 16777217;           // 2^24 + 1 -> 2^24 (nearest even)
            cvt.rn.f32.f64 %f2, 0d3FD5555555555555; // 1/3 rounded to nearest
            cvt.rz.f32.f64 %f3, 0d3FD5555555555555; // 1/3 rounded towards zero
            cvt.rni.f32.f32 %f4, 0fBFC00000;        // -1.5 -> -2.0
            cvt.f64.f32 %fd1, 0f3DCCCCCD;           // 0.1f widened exactly
            cvt.s64.s32 %rd2, -5;                   // sign extension
            cvt.u64.u32 %rd3, -5;                   // zero extension
            cvt.u32.u64 %r8, %rd2;                  // truncation
            st.global.v4.u32 [%rd1], {%r1, %r2, %r3, %r4};
            st.global.v4.u32 [%rd1+16], {%r5, %r6, %r7, %r8};
            st.global.v4.f32 [%rd1+32], {%f1, %f2, %f3, %f4};
            st.global.f64 [%rd1+48], %fd1;
            st.global.u64 [%rd1+56], %rd2;
            st.global.u64 [%rd1+64], %rd3;
            ret;
            """, 9);
        Assert.Equal([2, 4, -2, -3], new[] { (int)r[0], (int)(r[0] >> 32), (int)r[1], (int)(r[1] >> 32) });
        Assert.Equal([int.MaxValue, 0, 0, unchecked((int)0xFFFFFFFB)], new[] { (int)r[2], (int)(r[2] >> 32), (int)r[3], (int)(r[3] >> 32) });
        Assert.Equal(16777216f, BitConverter.UInt32BitsToSingle((uint)r[4]));
        float third = BitConverter.UInt32BitsToSingle((uint)(r[4] >> 32)), thirdDown = BitConverter.UInt32BitsToSingle((uint)r[5]);
        Assert.Equal((float)(1.0 / 3), third);
        Assert.True(thirdDown < 1.0 / 3 && MathF.BitIncrement(thirdDown) > 1.0 / 3, $"rz gave {thirdDown:R}");
        Assert.Equal(-2f, BitConverter.UInt32BitsToSingle((uint)(r[5] >> 32)));
        Assert.Equal((double)0.1f, BitConverter.UInt64BitsToDouble(r[6]));
        Assert.Equal(-5L, (long)r[7]);
        Assert.Equal(0xFFFF_FFFBUL, r[8]);
    }

    [Fact]
    public void Min_max_and_setp_treat_nan_and_infinity_as_ptx_says()
    {
        var r = RunWithOutput(Prologue + """
            mov.f32 %f1, 0f7FC00000;                 // NaN
            min.f32 %f2, %f1, 0f3F800000;            // min(NaN, 1) = 1
            max.f32 %f3, 0f3F800000, %f1;            // max(1, NaN) = 1
            max.f32 %f4, %f1, %f1;                   // max(NaN, NaN) = NaN
            min.f32 %f5, 0fFF800000, 0f00000000;     // min(-inf, 0) = -inf
            st.global.v4.f32 [%rd1], {%f2, %f3, %f4, %f5};
            setp.lt.f32 %p1, %f1, 0f3F800000;        // ordered: false with NaN
            setp.ltu.f32 %p2, %f1, 0f3F800000;       // unordered: true with NaN
            setp.ne.f32 %p3, %f1, %f1;               // ordered ne: false with NaN
            setp.neu.f32 %p4, %f1, %f1;              // unordered ne: true
            setp.nan.f32 %p5, %f1, 0f00000000;
            setp.gt.f32 %p6, 0f7F800000, 0f7F7FFFFF; // inf > float max
            selp.u32 %r1, 1, 0, %p1;
            selp.u32 %r2, 1, 0, %p2;
            selp.u32 %r3, 1, 0, %p3;
            selp.u32 %r4, 1, 0, %p4;
            selp.u32 %r5, 1, 0, %p5;
            selp.u32 %r6, 1, 0, %p6;
            setp.lt.s32 %p1, -1, 1;                  // signed: true
            setp.lo.u32 %p2, -1, 1;                  // unsigned: 0xffffffff < 1 is false
            selp.u32 %r7, 1, 0, %p1;
            selp.u32 %r8, 1, 0, %p2;
            st.global.v4.u32 [%rd1+16], {%r1, %r2, %r3, %r4};
            st.global.v4.u32 [%rd1+32], {%r5, %r6, %r7, %r8};
            ret;
            """, 6);
        float F(int i, bool high) => BitConverter.UInt32BitsToSingle((uint)(high ? r[i] >> 32 : r[i]));
        Assert.Equal(1f, F(0, false));
        Assert.Equal(1f, F(0, true));
        Assert.True(float.IsNaN(F(1, false)));
        Assert.Equal(float.NegativeInfinity, F(1, true));
        uint[] flags = [(uint)r[2], (uint)(r[2] >> 32), (uint)r[3], (uint)(r[3] >> 32), (uint)r[4], (uint)(r[4] >> 32), (uint)r[5], (uint)(r[5] >> 32)];
        Assert.Equal([0u, 1, 0, 1, 1, 1, 1, 0], flags);
    }

    [Fact]
    public void Integer_arithmetic_wraps_and_mul_hi_wide_give_the_upper_bits()
    {
        var r = RunWithOutput(Prologue + """
            add.u32 %r1, 0xFFFFFFFF, 1;              // wraps to 0
            add.s32 %r2, 2147483647, 1;              // wraps to int min
            mul.lo.s32 %r3, 65536, 65536;            // 2^32 wraps to 0
            mul.hi.u32 %r4, 0xFFFFFFFF, 0xFFFFFFFF;  // 0xFFFFFFFE
            mul.hi.s32 %r5, -1, 1;                   // -1 (sign of the 64-bit product)
            sub.u32 %r6, 0, 1;                       // 0xFFFFFFFF
            shr.s32 %r7, -16, 2;                     // arithmetic: -4
            shr.u32 %r8, -16, 40;                    // shift >= width: 0
            st.global.v4.u32 [%rd1], {%r1, %r2, %r3, %r4};
            st.global.v4.u32 [%rd1+16], {%r5, %r6, %r7, %r8};
            mul.wide.s32 %rd2, -2, 3;                // -6 in 64 bits
            mul.wide.u32 %rd3, 0xFFFFFFFF, 2;        // 0x1FFFFFFFE
            mul.hi.u64 %rd4, -1, -1;                 // 0xFFFFFFFFFFFFFFFE
            div.s32 %r9, -7, 2;                      // truncates: -3
            rem.s32 %r10, -7, 2;                     // sign of the dividend: -1
            st.global.u64 [%rd1+32], %rd2;
            st.global.u64 [%rd1+40], %rd3;
            st.global.u64 [%rd1+48], %rd4;
            st.global.v2.u32 [%rd1+56], {%r9, %r10};
            ret;
            """, 8);
        Assert.Equal(0u, (uint)r[0]);
        Assert.Equal(int.MinValue, (int)(r[0] >> 32));
        Assert.Equal(0u, (uint)r[1]);
        Assert.Equal(0xFFFFFFFEu, (uint)(r[1] >> 32));
        Assert.Equal(-1, (int)r[2]);
        Assert.Equal(0xFFFFFFFFu, (uint)(r[2] >> 32));
        Assert.Equal(-4, (int)r[3]);
        Assert.Equal(0u, (uint)(r[3] >> 32));
        Assert.Equal(-6L, (long)r[4]);
        Assert.Equal(0x1FFFFFFFEUL, r[5]);
        Assert.Equal(0xFFFFFFFFFFFFFFFEUL, r[6]);
        Assert.Equal(-3, (int)r[7]);
        Assert.Equal(-1, (int)(r[7] >> 32));
    }

    [Fact]
    public void Shfl_sync_bfly_and_down_exchange_values_across_a_warp()
    {
        var r = RunWithOutput(Prologue + """
            mov.u32 %r1, %laneid;                            // %r1 = lane
            shfl.sync.bfly.b32 %r2, %r1, 1, 0x1f, 0xffffffff;      // lane ^ 1
            shfl.sync.down.b32 %r3|%p1, %r1, 3, 0x1f, 0xffffffff;  // lane + 3, or own value past lane 31
            shfl.sync.up.b32 %r4, %r1, 2, 0, 0xffffffff;          // lane - 2, or own value below lane 2
            // butterfly sum of the lane numbers: every lane ends with 0 + 1 + ... + 31 = 496
            mov.u32 %r5, %r1;
            shfl.sync.bfly.b32 %r6, %r5, 16, 0x1f, 0xffffffff;
            add.u32 %r5, %r5, %r6;
            shfl.sync.bfly.b32 %r6, %r5, 8, 0x1f, 0xffffffff;
            add.u32 %r5, %r5, %r6;
            shfl.sync.bfly.b32 %r6, %r5, 4, 0x1f, 0xffffffff;
            add.u32 %r5, %r5, %r6;
            shfl.sync.bfly.b32 %r6, %r5, 2, 0x1f, 0xffffffff;
            add.u32 %r5, %r5, %r6;
            shfl.sync.bfly.b32 %r6, %r5, 1, 0x1f, 0xffffffff;
            add.u32 %r5, %r5, %r6;
            shfl.sync.idx.b32 %r7, %r1, 5, 0x1f, 0xffffffff;       // broadcast lane 5
            selp.u32 %r8, 1, 0, %p1;
            mul.wide.u32 %rd2, %r1, 24;
            add.s64 %rd2, %rd1, %rd2;
            st.global.v2.u32 [%rd2], {%r2, %r3};
            st.global.v2.u32 [%rd2+8], {%r4, %r5};
            st.global.v2.u32 [%rd2+16], {%r7, %r8};
            ret;
            """, 32 * 3, LaunchGrid.Linear(1, 32));
        for (uint lane = 0; lane < 32; lane++)
        {
            Assert.Equal(lane ^ 1, (uint)r[lane * 3]);
            Assert.Equal(lane + 3 < 32 ? lane + 3 : lane, (uint)(r[lane * 3] >> 32));
            Assert.Equal(lane >= 2 ? lane - 2 : lane, (uint)r[lane * 3 + 1]);
            Assert.Equal(496u, (uint)(r[lane * 3 + 1] >> 32));
            Assert.Equal(5u, (uint)r[lane * 3 + 2]);
            Assert.Equal(lane + 3 < 32 ? 1u : 0u, (uint)(r[lane * 3 + 2] >> 32));
        }
    }

    [Fact]
    public void Bar_sync_makes_shared_memory_writes_visible_to_the_whole_block()
    {
        // Each of 100 threads writes its id to shared memory, then reads its mirror's slot.
        var r = RunWithOutput("""
            .reg .pred %p<2>;
            .reg .b32 %r<8>;
            .reg .b64 %rd<8>;
            .shared .align 4 .b8 slots[400];
            ld.param.u64 %rd1, [test_out];
            mov.u32 %r1, %tid.x;                 // %r1 = tid
            mov.u32 %r2, slots;                  // %r2 = shared address of slots
            mad.lo.u32 %r3, %r1, 4, %r2;         // %r3 = &slots[tid]
            st.shared.u32 [%r3], %r1;
            bar.sync 0;
            sub.u32 %r4, 99, %r1;                // %r4 = mirror thread
            mad.lo.u32 %r5, %r4, 4, %r2;
            ld.shared.u32 %r6, [%r5];
            mul.wide.u32 %rd2, %r1, 8;
            add.s64 %rd2, %rd1, %rd2;
            cvt.u64.u32 %rd3, %r6;
            st.global.u64 [%rd2], %rd3;
            ret;
            """.Replace("mov.u32 %r2, slots;", "mov.u32 %r2, slots;"), 100, LaunchGrid.Linear(1, 100));
        for (int t = 0; t < 100; t++) Assert.Equal((ulong)(99 - t), r[t]);
    }

    [Fact]
    public void Atomics_under_contention_from_many_threads_lose_no_update()
    {
        // 64 blocks x 256 threads: global u32 and f32 adds, a global s32 max, and a shared add per block.
        var r = RunWithOutput("""
            .reg .pred %p<2>;
            .reg .b32 %r<10>;
            .reg .f32 %f<2>;
            .reg .b64 %rd<4>;
            .shared .align 4 .u32 counter;
            ld.param.u64 %rd1, [test_out];
            mov.u32 %r1, %tid.x;
            mov.u32 %r2, %ctaid.x;
            mad.lo.u32 %r3, %r2, 256, %r1;          // %r3 = global thread index
            atom.global.add.u32 %r4, [%rd1], 1;
            red.global.add.f32 [%rd1+4], 0f3F800000;
            sub.s32 %r5, %r3, 10000;                // values -10000 .. 6383
            red.global.max.s32 [%rd1+8], %r5;
            setp.ne.u32 %p1, %r1, 0;
            @!%p1 st.shared.u32 [counter], 0;       // shared memory starts with whatever was left there
            bar.sync 0;
            red.shared.add.u32 [counter], 1;
            bar.sync 0;
            @%p1 bra DONE;
            ld.shared.u32 %r6, [counter];           // 256 in every block
            mul.wide.u32 %rd2, %r2, 4;
            add.s64 %rd2, %rd1, %rd2;
            st.global.u32 [%rd2+16], %r6;
            DONE:
            ret;
            """, 2 + 32, LaunchGrid.Linear(64, 256));
        Assert.Equal(16384u, (uint)r[0]);
        Assert.Equal(16384f, BitConverter.UInt32BitsToSingle((uint)(r[0] >> 32)));
        Assert.Equal(6383, (int)r[1]);
        for (int block = 0; block < 64; block++) Assert.Equal(256u, (uint)(r[2 + block / 2] >> (block % 2 * 32)));
    }

    [Fact]
    public void Predicated_branches_and_guarded_instructions_follow_the_predicate()
    {
        // out[t] = t odd ? 3 * t : t / 2 ; then + 1000 for t >= 4, + 100 otherwise (guarded adds, not.pred)
        var r = RunWithOutput(Prologue + """
            mov.u32 %r1, %tid.x;
            and.b32 %r2, %r1, 1;
            setp.eq.u32 %p1, %r2, 1;
            @!%p1 bra EVEN;
            mul.lo.u32 %r3, %r1, 3;
            bra.uni JOIN;
            EVEN:
            shr.u32 %r3, %r1, 1;
            JOIN:
            setp.ge.u32 %p2, %r1, 4;
            @%p2 add.u32 %r3, %r3, 1000;
            not.pred %p3, %p2;
            @%p3 add.u32 %r3, %r3, 100;
            mul.wide.u32 %rd2, %r1, 8;
            add.s64 %rd2, %rd1, %rd2;
            cvt.u64.u32 %rd3, %r3;
            st.global.u64 [%rd2], %rd3;
            ret;
            """, 8, LaunchGrid.Linear(1, 8));
        for (uint t = 0; t < 8; t++) Assert.Equal((ulong)((t % 2 == 1 ? 3 * t : t / 2) + (t >= 4 ? 1000u : 100u)), r[t]);
    }

    [Fact]
    public void Local_and_generic_shared_memory_and_the_approximate_functions_work()
    {
        var r = RunWithOutput("""
            .reg .pred %p<2>;
            .reg .b32 %r<8>;
            .reg .f32 %f<12>;
            .reg .b64 %rd<8>;
            .shared .align 8 .b8 cell[8];
            .local .align 4 .b8 scratch[16];
            ld.param.u64 %rd1, [test_out];
            st.local.v2.f32 [scratch+8], {0f40000000, 0f41000000};  // 2, 8
            ld.local.f32 %f1, [scratch+12];                        // 8
            mov.u64 %rd2, cell;
            cvta.shared.u64 %rd3, %rd2;                            // generic address of cell
            st.u32 [%rd3+4], 77;                                   // a generic store lands in shared memory
            ld.shared.u32 %r1, [cell+4];
            ex2.approx.f32 %f2, 0f40400000;                        // 2^3 = 8
            lg2.approx.f32 %f3, %f1;                               // log2(8) = 3
            rsqrt.approx.f32 %f4, 0f40800000;                      // 1/sqrt(4) = 0.5
            sqrt.rn.f32 %f5, 0f40800000;                           // 2
            rcp.rn.f32 %f6, 0f40800000;                            // 0.25
            fma.rn.f32 %f7, 0f3F800001, 0f3F800001, 0fBF800002;    // exactly 2^-46, lost by a rounded mul then add
            st.global.v4.f32 [%rd1], {%f1, %f2, %f3, %f4};
            st.global.v4.f32 [%rd1+16], {%f5, %f6, %f7, %f7};
            st.global.u32 [%rd1+32], %r1;
            ret;
            """, 5);
        float F(int word) => BitConverter.UInt32BitsToSingle((uint)(r[word / 2] >> (word % 2 * 32)));
        Assert.Equal([8f, 8f, 3f, 0.5f, 2f, 0.25f, MathF.Pow(2, -46)], new[] { F(0), F(1), F(2), F(3), F(4), F(5), F(6) });
        Assert.Equal(77u, (uint)r[4]);
    }

    [Fact]
    public void Wrong_arguments_are_an_error_listing_the_parameters()
    {
        var kernel = FerEngine.Kernels.KernelCatalog.Emulated("add_f32");
        var memory = new EmulatedMemory();
        var error = Assert.Throws<PtxEmulatorException>(() => PtxInterpreter.Launch(kernel, LaunchGrid.Linear(1, 32), memory, [1UL, 2UL]));
        Assert.Contains("add_f32 takes 4 arguments", error.Message);
        error = Assert.Throws<PtxEmulatorException>(() => PtxInterpreter.Launch(kernel, LaunchGrid.Linear(1, 32), memory, [1UL, 2UL, 3UL, 4.0f]));
        Assert.Contains("add_f32_n", error.Message);
    }

    [Theory]
    [InlineData(1, 2)]   // two threads of one block
    [InlineData(2, 1)]   // two blocks of one thread
    public void A_kernel_that_reads_what_another_thread_writes_gives_different_answers_in_the_two_orders(int blocks, int threadsPerBlock)
    {
        // Thread 0 of block 0 writes out[0] = 7; the other thread copies out[0] to out[1]. Only a barrier
        // (in one block) or a second launch (between blocks) would order the two: a race.
        var kernel = PtxParser.Parse(Module(Prologue + """
            mov.u32 %r1, %tid.x;
            mov.u32 %r2, %ctaid.x;
            add.u32 %r3, %r1, %r2;
            setp.ne.u32 %p1, %r3, 0;
            @%p1 bra $COPY;
            mov.u32 %r4, 7;
            st.global.u32 [%rd1], %r4;
            ret;
            $COPY:
            ld.global.u32 %r5, [%rd1];
            st.global.u32 [%rd1+4], %r5;
            ret;
            """), "test.ptx")["test"];
        uint Copied(ExecutionOrder order)
        {
            var memory = new EmulatedMemory();
            ulong output = memory.Allocate(8);
            PtxInterpreter.Launch(kernel, LaunchGrid.Linear(blocks, threadsPerBlock), memory, [output], order: order);
            return memory.Read<uint>(output, 2)[1];
        }
        Assert.Equal(0u, Copied(ExecutionOrder.Reversed));                    // the copying thread ran first
        if (blocks == 1) Assert.Equal(7u, Copied(ExecutionOrder.Parallel));   // thread 0 ran first (two blocks may run either way)
    }

    [Fact]
    public void An_out_of_bounds_access_names_the_kernel_block_thread_and_address()
    {
        var kernel = PtxParser.Parse(Module(Prologue + """
            mov.u32 %r1, %tid.x;
            mul.wide.u32 %rd2, %r1, 4;
            add.s64 %rd2, %rd1, %rd2;
            st.global.u32 [%rd2], %r1;           // one thread too many writes past the end
            ret;
            """), "test.ptx")["test"];
        var memory = new EmulatedMemory();
        ulong output = memory.Allocate(40 * 4);
        var error = Assert.Throws<PtxEmulatorException>(() =>
            PtxInterpreter.Launch(kernel, new LaunchGrid(new Dim3(2, 1, 1), new Dim3(41)), memory, [output]));
        Assert.Contains("kernel test", error.Message);
        Assert.Contains("thread (40,0,0)", error.Message);
        Assert.Contains($"0x{output + 160:x}", error.Message);
        Assert.Contains("past its end", error.Message);
        Assert.Contains("test.ptx:", error.Message);
    }

    [Fact]
    public void Reading_a_register_the_thread_has_not_written_is_an_error_unless_the_read_is_guarded_off()
    {
        // A GPU's registers start with whatever was left in them: an accumulator never set to zero.
        var error = Assert.Throws<PtxEmulatorException>(() => RunWithOutput(Prologue + """
            add.rn.f32 %f1, %f1, 0f3F800000;
            st.global.f32 [%rd1], %f1;
            ret;
            """, 1));
        Assert.Contains("test.ptx:", error.Message);
        Assert.Contains("reads %f1, which this thread has not written", error.Message);

        var guard = Assert.Throws<PtxEmulatorException>(() => RunWithOutput(Prologue + """
            @%p1 mov.u32 %r1, 1;
            ret;
            """, 1));
        Assert.Contains("reads %p1", guard.Message);

        // A guarded-off instruction reads nothing: %r2 is written only where it is used.
        var r = RunWithOutput(Prologue + """
            mov.u32 %r1, %tid.x;
            setp.eq.u32 %p1, %r1, 1;
            mov.u32 %r3, 7;
            @%p1 mov.u32 %r2, 40;
            @%p1 add.u32 %r3, %r2, 2;
            mul.wide.u32 %rd2, %r1, 8;
            add.s64 %rd2, %rd1, %rd2;
            cvt.u64.u32 %rd3, %r3;
            st.global.u64 [%rd2], %rd3;
            ret;
            """, 2, LaunchGrid.Linear(1, 2));
        Assert.Equal([7UL, 42UL], r);
    }

    /// <summary>A block of 64 threads with 64 u32 slots of shared memory; %r1 = tid, %r3 = &amp;slots[tid].</summary>
    private const string SharedPrologue = """
        .reg .pred %p<4>;
        .reg .b32 %r<16>;
        .reg .b64 %rd<8>;
        .shared .align 4 .b8 slots[256];
        ld.param.u64 %rd1, [test_out];
        mov.u32 %r1, %tid.x;
        mov.u32 %r2, slots;
        mad.lo.u32 %r3, %r1, 4, %r2;
        """;

    [Fact]
    public void Reading_shared_memory_no_thread_of_the_block_has_written_is_an_error()
    {
        var error = Assert.Throws<PtxEmulatorException>(() => RunWithOutput(SharedPrologue + """
            ld.shared.u32 %r4, [%r3];
            ret;
            """, 1, LaunchGrid.Linear(1, 64)));
        Assert.Contains("reads slots+0 (byte 0 of .shared), which is not yet written by any thread of this block: " +
            "uninitialised, or a missing bar.sync between the write and this read", error.Message);
    }

    // Thread 1 writes what thread 0 reads, with no bar.sync between: the emulator runs thread 0 first, so the
    // byte is not yet written when it reads, and the message must not blame uninitialised memory alone.
    [Fact]
    public void A_read_of_what_a_later_thread_writes_with_no_barrier_between_names_the_missing_bar_sync_and_the_array()
    {
        var error = Assert.Throws<PtxEmulatorException>(() => RunWithOutput("""
            .reg .pred %p<2>;
            .reg .b32 %r<8>;
            .reg .b64 %rd<4>;
            .shared .align 4 .b8 first[8];
            .shared .align 4 .b8 second[16];
            ld.param.u64 %rd1, [test_out];
            mov.u32 %r1, %tid.x;
            setp.eq.u32 %p1, %r1, 1;
            @%p1 st.shared.u32 [second+12], %r1;     // thread 1 writes
            ld.shared.u32 %r2, [second+12];          // every thread reads, no bar.sync between
            ret;
            """, 1, LaunchGrid.Linear(1, 2)));
        Assert.Contains("thread (0,0,0)", error.Message);
        Assert.Contains("reads second+12 (byte 20 of .shared), which is not yet written by any thread of this block: " +
            "uninitialised, or a missing bar.sync between the write and this read", error.Message);
    }

    [Fact]
    public void Two_threads_touching_one_shared_byte_with_no_barrier_between_is_an_error()
    {
        // Every thread writes its own slot first. %r4 = &slots[tid - 1] (thread 0: its own), %r5 = &slots[tid + 1 mod 64].
        const string Neighbours = """
            st.shared.u32 [%r3], %r1;
            setp.eq.u32 %p1, %r1, 0;
            selp.u32 %r6, 0, 4, %p1;
            sub.u32 %r4, %r3, %r6;
            add.u32 %r7, %r1, 1;
            and.b32 %r7, %r7, 63;
            mad.lo.u32 %r5, %r7, 4, %r2;
            """;
        string Error(string accesses) => Assert.Throws<PtxEmulatorException>(() =>
            RunWithOutput(SharedPrologue + Neighbours + accesses + "\nret;", 1, LaunchGrid.Linear(1, 64))).Message;

        // Thread tid reads what thread tid - 1 wrote: with the emulator's order it would see the write, a GPU need not.
        Assert.Contains("reads slots+0 (byte 0 of .shared), which thread (0,0,0) wrote at test.ptx:", Error("ld.shared.u32 %r8, [%r4];"));
        // Thread tid writes over what thread tid - 1 wrote.
        Assert.Contains("also wrote at", Error("st.shared.u32 [%r4], %r1;"));
        // After a barrier, thread tid reads slot tid + 1 and writes its own: thread 1 overwrites what thread 0 read.
        Assert.Contains("writes slots+4 (byte 4 of .shared), which thread (0,0,0) read at", Error("bar.sync 0;\nld.shared.u32 %r8, [%r5];\nst.shared.u32 [%r3], %r8;"));
        Assert.All(new[] { Error("ld.shared.u32 %r8, [%r4];"), Error("st.shared.u32 [%r4], %r1;") }, m => Assert.Contains("with no bar.sync between", m));

        // With bar.sync between each write and the other threads' accesses, the same kernels run.
        var r = RunWithOutput(SharedPrologue + Neighbours + """
            bar.sync 0;
            ld.shared.u32 %r8, [%r5];
            bar.sync 0;
            st.shared.u32 [%r3], %r8;
            mul.wide.u32 %rd2, %r1, 8;
            add.s64 %rd2, %rd1, %rd2;
            cvt.u64.u32 %rd3, %r8;
            st.global.u64 [%rd2], %rd3;
            ret;
            """, 64, LaunchGrid.Linear(1, 64));
        for (int t = 0; t < 64; t++) Assert.Equal((ulong)((t + 1) % 64), r[t]);
    }

    [Fact]
    public void A_misaligned_access_is_an_error()
    {
        var error = Assert.Throws<PtxEmulatorException>(() => RunWithOutput(Prologue + """
            ld.global.u32 %r1, [%rd1+2];
            ret;
            """, 2));
        Assert.Contains("misaligned", error.Message);
    }

    [Fact]
    public void Vector_loads_and_stores_move_adjacent_elements_and_need_the_whole_vector_aligned()
    {
        var r = RunWithOutput(Prologue + """
            mov.f32 %f1, 0f3F800000;                 // 1
            mov.f32 %f2, 0f40000000;                 // 2
            mov.f32 %f3, 0f40400000;                 // 3
            mov.f32 %f4, 0f40800000;                 // 4
            st.global.v4.f32 [%rd1], {%f1, %f2, %f3, %f4};
            ld.global.v2.f32 {%f5, %f6}, [%rd1+8];   // 3, 4
            ld.global.v2.u32 {%r1, %r2}, [%rd1];     // the bits of 1, 2
            st.global.v2.f32 [%rd1+16], {%f6, %f5};  // 4, 3
            st.global.v2.u32 [%rd1+24], {%r2, %r1};  // 2, 1
            ret;
            """, 4);
        float[] values = new float[8];
        Buffer.BlockCopy(r, 0, values, 0, 32);
        Assert.Equal([1f, 2f, 3f, 4f, 4f, 3f, 2f, 1f], values);

        var error = Assert.Throws<PtxEmulatorException>(() => RunWithOutput(Prologue + """
            ld.global.v2.f32 {%f1, %f2}, [%rd1+4];   // 4-byte aligned only
            ret;
            """, 2));
        Assert.Contains("misaligned", error.Message);
        Assert.Contains("multiple of 8", error.Message);
    }

    [Fact]
    public void An_unsupported_instruction_is_an_error_naming_file_and_line()
    {
        string text = Module(Prologue + "\n    brev.b32 %r1, %r2;\n    ret;");
        int line = text.Split('\n').ToList().FindIndex(l => l.Contains("brev")) + 1;
        var error = Assert.Throws<PtxEmulatorException>(() => PtxParser.Parse(text, "test.ptx"));
        Assert.Contains($"test.ptx:{line}", error.Message);
        Assert.Contains("brev", error.Message);
    }

    [Theory]
    [InlineData("add.f32 %f1, %f2, %f3;", "write .rn")]
    [InlineData("mul.f64 %fd1, %fd2, %fd3;", "write .rn")]
    [InlineData("add.rz.f32 %f1, %f2, %f3;", "emulated with .rn only")]
    [InlineData("div.rp.f32 %f1, %f2, %f3;", "emulated with .rn only")]
    public void Float_arithmetic_without_rn_is_refused_at_parse_time(string instruction, string expected)
    {
        var error = Assert.Throws<PtxEmulatorException>(() => PtxParser.Parse(Module(Prologue + "\n    " + instruction + "\n    ret;"), "test.ptx"));
        Assert.Contains(expected, error.Message);
        Assert.Contains("test.ptx:", error.Message);
    }

    [Fact]
    public void Threads_waiting_at_different_barriers_are_an_error()
    {
        var error = Assert.Throws<PtxEmulatorException>(() => RunWithOutput(Prologue + """
            mov.u32 %r1, %tid.x;
            setp.lt.u32 %p1, %r1, 16;
            @%p1 bra FIRST;
            bar.sync 0;
            ret;
            FIRST:
            bar.sync 0;
            ret;
            """, 1, LaunchGrid.Linear(1, 64)));
        Assert.Contains("barrier", error.Message);
    }

    [Fact]
    public void Trace_prints_the_chosen_threads_instructions_and_the_registers_they_wrote()
    {
        var writer = new StringWriter();
        RunWithOutput(Prologue + """
            mov.u32 %r1, %tid.x;
            add.u32 %r2, %r1, 40;
            cvt.rn.f32.u32 %f1, %r2;
            ret;
            """, 1, LaunchGrid.Linear(2, 4), new KernelTrace(block: new Dim3(1, 0, 0), thread: new Dim3(2, 0, 0), writer));
        string trace = writer.ToString();
        Assert.Contains("%r1 = 2 (0x2)", trace);
        Assert.Contains("%r2 = 42 (0x2a)", trace);
        Assert.Contains("%f1 = 0x42280000 (42)", trace);
        Assert.Equal(5, trace.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    // The kernels' setp.*.u32 compare indices and counts far below 2^31, where signed and unsigned agree:
    // this pins down the .u32 forms of lt / le / gt / ge where they differ.
    [Fact]
    public void Unsigned_setp_compares_values_at_and_above_2_to_the_31_as_unsigned()
    {
        var r = RunWithOutput(Prologue + """
            setp.ge.u32 %p1, 0xFFFFFFFF, 1;          // true (a signed compare says -1 >= 1: false)
            setp.gt.u32 %p2, 0x80000000, 0x7FFFFFFF; // true
            setp.lt.u32 %p3, 0x80000000, 1;          // false
            setp.le.u32 %p4, 0xFFFFFFFF, 0;          // false
            selp.u32 %r1, 1, 0, %p1;
            selp.u32 %r2, 1, 0, %p2;
            selp.u32 %r3, 1, 0, %p3;
            selp.u32 %r4, 1, 0, %p4;
            st.global.v4.u32 [%rd1], {%r1, %r2, %r3, %r4};
            ret;
            """, 2);
        Assert.Equal([1u, 1u, 0u, 0u], new[] { (uint)r[0], (uint)(r[0] >> 32), (uint)r[1], (uint)(r[1] >> 32) });
    }

    // A warp shuffle reads every lane's source before any lane writes: a shuffle in place (d == a, common in
    // hand-written PTX, though our kernels use distinct registers) must not see a lane's already-shuffled value.
    [Fact]
    public void Shfl_sync_in_place_reads_every_lane_before_any_lane_writes()
    {
        var r = RunWithOutput(Prologue + """
            mov.u32 %r1, %laneid;
            shfl.sync.bfly.b32 %r1, %r1, 1, 0x1f, 0xffffffff;     // in place: lane ^ 1
            mov.u32 %r2, %laneid;
            shfl.sync.down.b32 %r2, %r2, 1, 0x1f, 0xffffffff;     // in place: lane + 1 (lane 31 keeps 31)
            mov.u32 %r3, %laneid;
            mul.wide.u32 %rd2, %r3, 8;
            add.s64 %rd2, %rd1, %rd2;
            st.global.v2.u32 [%rd2], {%r1, %r2};
            ret;
            """, 32, LaunchGrid.Linear(1, 32));
        for (uint lane = 0; lane < 32; lane++)
        {
            Assert.Equal(lane ^ 1, (uint)r[lane]);
            Assert.Equal(lane < 31 ? lane + 1 : 31, (uint)(r[lane] >> 32));
        }
    }

    // The shared-memory checker remembers every reader of a byte, not just the first: a reader that overwrites it
    // with no bar.sync after the other threads' reads is a race (on a GPU the write may land before their reads).
    // Thread 0 reads slot 0 and waits at a shuffle while lanes 1..31 read it; then thread 0 writes it.
    [Fact]
    public void A_write_over_a_byte_several_threads_read_with_no_barrier_between_is_an_error()
    {
        var error = Assert.Throws<PtxEmulatorException>(() => RunWithOutput(SharedPrologue + """
            st.shared.u32 [%r3], %r1;                // every thread writes its own slot
            bar.sync 0;
            ld.shared.u32 %r4, [%r2];                // every thread reads slot 0
            shfl.sync.bfly.b32 %r5, %r4, 1, 0x1f, 0xffffffff;
            setp.ne.u32 %p1, %r1, 0;
            @%p1 bra $DONE;
            st.shared.u32 [%r2], %r5;                // thread 0 overwrites slot 0, which threads 1..31 read
            $DONE:
            ret;
            """, 1, LaunchGrid.Linear(1, 32)));
        Assert.Contains("writes slots+0 (byte 0 of .shared), which other threads read at", error.Message);
    }

    // cvt.rn.f32.u32 converts as unsigned (our kernels convert counts far below 2^31, where it makes no difference).
    [Fact]
    public void Cvt_from_u32_to_f32_is_unsigned()
    {
        var r = RunWithOutput(Prologue + """
            cvt.rn.f32.u32 %f1, 0xFFFFFFFF;          // 4294967295 -> 2^32
            cvt.rn.f32.u32 %f2, 0x80000000;          // 2^31
            st.global.v2.f32 [%rd1], {%f1, %f2};
            ret;
            """, 1);
        Assert.Equal(4294967296f, BitConverter.UInt32BitsToSingle((uint)r[0]));
        Assert.Equal(2147483648f, BitConverter.UInt32BitsToSingle((uint)(r[0] >> 32)));
    }
}
