using System.Runtime.CompilerServices;

namespace FerEngine.Kernels.Emulator;

/// <summary>
/// Runs a decoded <see cref="PtxKernel"/> on the CPU. Blocks run in parallel (Parallel.For);
/// inside a block, threads run as cooperative steps: each thread runs until it reaches a
/// bar.sync, a shfl.sync or its exit, round-robin. A shuffle executes when every live lane of
/// its warp (32 threads) has reached it (warps are in lockstep at shuffles); a barrier releases
/// when every live thread of the block waits at it (threads that have exited do not hold a barrier
/// up). Threads waiting at different barriers, or a shuffle that part of its warp never reaches, are
/// errors. shfl.sync's member mask is not checked; reading a lane that has exited is an error.
///
/// What the emulator would get right by luck and a GPU need not is an error as well: a thread reading a
/// register it has not written (registers start at zero here, with leftovers on a GPU), and the
/// shared-memory hazards <see cref="SharedMemoryChecker"/> finds (a read of shared memory nothing has
/// written; two threads' accesses to one byte, one of them a write, with no barrier between). So is
/// float arithmetic without .rn, at parse time (<see cref="PtxParser"/>): ptxas may fuse it into an fma;
/// and, also at parse time, what ptxas refuses by the ISA's type rules (<see cref="PtxTypeRules"/>).
/// Global memory is not checked that way; instead a launch can run in <see cref="ExecutionOrder.Reversed"/>
/// order (last block first, and inside a block the last thread first), and a kernel whose result
/// depends on the order its threads run in (two threads' accesses to one global value with no
/// barrier between) gives a different answer: tests compare the two orders.
///
/// Numerics: IEEE float32/float64 as .NET computes them (round to nearest even). The .approx
/// functions are computed by the .NET math library (ex2 with float.Exp2, lg2 with MathF.Log2, rcp/div
/// as 1/x and x/y, rsqrt as 1/MathF.Sqrt): a GPU's answers differ by a few ulp, so kernel tests use
/// tolerances. .ftz (flush subnormals) is accepted and not modelled. Integer division by zero
/// gives all ones (a GPU's result is unspecified); remainder by zero gives the dividend.
/// </summary>
public static class PtxInterpreter
{
    /// <summary>
    /// Launches <paramref name="kernel"/>. Arguments, in .param order: ulong/long for .u64/.s64
    /// (device addresses), uint/int for 32-bit, float, double, and byte[] of the exact size for a
    /// .b8 array parameter.
    /// </summary>
    public static void Launch(PtxKernel kernel, LaunchGrid grid, EmulatedMemory memory, object[] arguments, KernelTrace? trace = null,
        ExecutionOrder order = ExecutionOrder.Parallel)
    {
        if (grid.Block.Count is < 1 or > 1024) throw new PtxEmulatorException($"{kernel.Name}: {grid.Block.Count} threads per block; 1 to 1024 are allowed.");
        if (grid.Grid.Count < 1) throw new PtxEmulatorException($"{kernel.Name}: the grid {grid.Grid} is empty.");
        byte[] parameters = PackArguments(kernel, arguments);
        var allocations = memory.Snapshot;
        try
        {
            if (order == ExecutionOrder.Reversed)
            {
                var runner = new BlockRunner(kernel, grid, parameters, allocations, trace, reversed: true);
                for (long block = grid.Grid.Count - 1; block >= 0; block--) runner.Run(block);
            }
            else
            {
                Parallel.For(0L, grid.Grid.Count, () => new BlockRunner(kernel, grid, parameters, allocations, trace, reversed: false),
                    (block, _, runner) => { runner.Run(block); return runner; }, _ => { });
            }
        }
        catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is PtxEmulatorException) is { } first)
        {
            throw new PtxEmulatorException(first.Message);
        }
    }

    private static byte[] PackArguments(PtxKernel kernel, object[] arguments)
    {
        if (arguments.Length != kernel.Parameters.Count)
            throw new PtxEmulatorException($"{kernel.Name} takes {kernel.Parameters.Count} arguments ({string.Join(", ", kernel.Parameters.Select(p => $".{p.Type} {p.Name}"))}); {arguments.Length} were given.");
        var buffer = new byte[Math.Max(kernel.ParameterBytes, 1)];
        for (int i = 0; i < arguments.Length; i++)
        {
            var p = kernel.Parameters[i];
            byte[] bytes = arguments[i] switch
            {
                ulong v => BitConverter.GetBytes(v), long v => BitConverter.GetBytes(v),
                uint v => BitConverter.GetBytes(v), int v => BitConverter.GetBytes(v),
                float v => BitConverter.GetBytes(v), double v => BitConverter.GetBytes(v),
                byte[] v => v,   // a parameter passed by value as bytes (.b8 name[N]: a table)
                _ => throw new PtxEmulatorException($"{kernel.Name}: argument {i} ({p.Name}) has the unsupported type {arguments[i]?.GetType().Name}."),
            };
            bool floatMismatch = p.Type.StartsWith('f') != (arguments[i] is float or double);
            if (bytes.Length != p.Size || floatMismatch)
                throw new PtxEmulatorException($"{kernel.Name}: argument {i} ({p.Name}, .{p.Type}) was given a {arguments[i].GetType().Name}.");
            bytes.CopyTo(buffer, p.Offset);
        }
        return buffer;
    }

    private enum ThreadState : byte { Running, AtBarrier, AtShuffle, Exited }

    /// <summary>The state of one block being run; reused for the blocks one worker runs.</summary>
    private sealed class BlockRunner
    {
        private const ulong LocalWindow = 0x0002_0000_0000_0000;
        private readonly PtxKernel kernel;
        private readonly PtxInstruction[] code;
        private readonly LaunchGrid grid;
        private readonly byte[] parameters;
        private readonly EmulatedMemory.Allocation[] allocations;
        private readonly KernelTrace? trace;
        private readonly int threads, slots;
        private readonly ulong[] registers;
        private readonly bool[] written;              // per thread and slot: the thread has written the register
        private readonly bool[] writtenAtStart;       // per slot: special registers and constants, set before a thread runs
        private readonly SharedMemoryChecker sharedChecker;
        private readonly int[] pcs;
        private readonly ThreadState[] states;
        private readonly byte[] shared, local;
        private EmulatedMemory.Allocation? lastAllocation;
        private Dim3 block;
        private int tracedThread = -1;
        private readonly bool reversed;               // run the block's threads last to first (ExecutionOrder.Reversed)

        public BlockRunner(PtxKernel kernel, LaunchGrid grid, byte[] parameters, EmulatedMemory.Allocation[] allocations, KernelTrace? trace, bool reversed)
        {
            this.kernel = kernel; code = kernel.Instructions; this.grid = grid; this.parameters = parameters;
            this.allocations = allocations; this.trace = trace; this.reversed = reversed;
            threads = (int)grid.Block.Count; slots = kernel.RegisterCount;
            registers = new ulong[threads * slots];
            written = new bool[threads * slots];
            writtenAtStart = new bool[slots];
            for (int slot = 0; slot < PtxKernel.SpecialCount; slot++) writtenAtStart[slot] = true;
            foreach (var (slot, _) in kernel.Constants) writtenAtStart[slot] = true;
            sharedChecker = new SharedMemoryChecker(kernel.SharedBytes, grid.Block, ThreadName, kernel.SharedName);
            pcs = new int[threads];
            states = new ThreadState[threads];
            shared = new byte[kernel.SharedBytes];
            local = new byte[kernel.LocalBytes * threads];
        }

        public void Run(long blockIndex)
        {
            block = LaunchGrid.Unflatten(blockIndex, grid.Grid);
            tracedThread = trace is not null && trace.Block == block
                ? trace.Thread.X + grid.Block.X * (trace.Thread.Y + grid.Block.Y * trace.Thread.Z) : -1;
            Array.Clear(registers); Array.Clear(pcs); Array.Clear(states); Array.Clear(shared); Array.Clear(local);
            sharedChecker.Reset();
            for (int t = 0; t < threads; t++)
            {
                var r = registers.AsSpan(t * slots, slots);
                var tid = LaunchGrid.Unflatten(t, grid.Block);
                r[PtxKernel.TidX] = (uint)tid.X; r[PtxKernel.TidY] = (uint)tid.Y; r[PtxKernel.TidZ] = (uint)tid.Z;
                r[PtxKernel.NtidX] = (uint)grid.Block.X; r[PtxKernel.NtidY] = (uint)grid.Block.Y; r[PtxKernel.NtidZ] = (uint)grid.Block.Z;
                r[PtxKernel.CtaidX] = (uint)block.X; r[PtxKernel.CtaidY] = (uint)block.Y; r[PtxKernel.CtaidZ] = (uint)block.Z;
                r[PtxKernel.NctaidX] = (uint)grid.Grid.X; r[PtxKernel.NctaidY] = (uint)grid.Grid.Y; r[PtxKernel.NctaidZ] = (uint)grid.Grid.Z;
                r[PtxKernel.LaneId] = (uint)(t % 32); r[PtxKernel.WarpId] = (uint)(t / 32);
                foreach (var (slot, value) in kernel.Constants) r[slot] = value;
                writtenAtStart.CopyTo(written, t * slots);
            }
            while (true)
            {
                for (int i = 0; i < threads; i++)
                {
                    int t = reversed ? threads - 1 - i : i;
                    if (states[t] == ThreadState.Running) RunThread(t);
                }
                bool shuffled = false;
                for (int warp = 0; warp * 32 < threads; warp++) shuffled |= TryShuffle(warp);
                if (shuffled) continue;
                if (!ReleaseBarrier()) return;
            }
        }

        private string ThreadName(int t) => $"kernel {kernel.Name}, block {block}, thread {LaunchGrid.Unflatten(t, grid.Block)}";

        /// <summary>Runs thread t until it reaches a barrier, a shuffle or its exit.</summary>
        private void RunThread(int t)
        {
            var r = registers.AsSpan(t * slots, slots);
            int pc = pcs[t];
            bool tracing = t == tracedThread;
            while (true)
            {
                if ((uint)pc >= (uint)code.Length) { states[t] = ThreadState.Exited; return; }
                var ins = code[pc];
                if (ins.Predicate >= 0)
                {
                    RequireWritten(ins, t, ins.Predicate);
                    if ((r[ins.Predicate] != 0) == ins.PredicateNegated)
                    {
                        if (tracing) trace!.Record(kernel, ins, r, executed: false);
                        pc++;
                        continue;
                    }
                }
                foreach (int source in ins.Sources) RequireWritten(ins, t, source);
                if (ins.AddressBase >= 0) RequireWritten(ins, t, ins.AddressBase);
                switch (ins.Op)
                {
                    case PtxOp.Bra:
                        if (tracing) trace!.Record(kernel, ins, r, executed: true);
                        pc = ins.Target;
                        continue;
                    case PtxOp.Ret:
                        if (tracing) trace!.Record(kernel, ins, r, executed: true);
                        states[t] = ThreadState.Exited; pcs[t] = pc;
                        return;
                    case PtxOp.Bar:
                        states[t] = ThreadState.AtBarrier; pcs[t] = pc;
                        return;
                    case PtxOp.Shfl:
                        states[t] = ThreadState.AtShuffle; pcs[t] = pc;
                        return;
                    default:
                        Execute(ins, r, t);
                        foreach (int d in ins.Destinations) written[t * slots + d] = true;
                        if (tracing) trace!.Record(kernel, ins, r, executed: true);
                        pc++;
                        continue;
                }
            }
        }

        /// <summary>
        /// A register that <paramref name="ins"/> reads (its guard, or, when it runs, a source or its
        /// address) has been written by thread t, or is a special register or a constant. The emulator's
        /// registers start at zero and a GPU's hold whatever was left in them, so a kernel that forgot to
        /// set an accumulator would pass here and fail there. (A shfl.sync's sources are checked here too,
        /// before its thread stops to wait for the warp.)
        /// </summary>
        private void RequireWritten(PtxInstruction ins, int t, int slot)
        {
            if (!written[t * slots + slot])
                throw new PtxEmulatorException($"{ThreadName(t)}: {ins.Location} '{ins.Text}' reads {kernel.SlotNames[slot]}, which this thread has not written: a GPU's registers hold whatever was left in them.");
        }

        /// <summary>Executes the shuffle of a warp whose live lanes all wait at it.</summary>
        private bool TryShuffle(int warp)
        {
            int first = warp * 32, count = Math.Min(32, threads - first), waiting = 0, live = 0, pc = -1;
            for (int lane = 0; lane < count; lane++)
            {
                var s = states[first + lane];
                if (s == ThreadState.Exited) continue;
                live++;
                if (s != ThreadState.AtShuffle) continue;
                waiting++;
                if (pc >= 0 && pcs[first + lane] != pc)
                    throw new PtxEmulatorException($"{ThreadName(first + lane)}: lanes of one warp wait at different shfl.sync instructions ({code[pc].Location} and {code[pcs[first + lane]].Location}).");
                pc = pcs[first + lane];
            }
            if (waiting == 0 || waiting != live) return false;
            var ins = code[pc];
            Span<ulong> values = stackalloc ulong[32];
            uint participating = 0;                  // lanes that take part (read before any lane moves on)
            for (int lane = 0; lane < count; lane++)
                if (states[first + lane] == ThreadState.AtShuffle)
                {
                    values[lane] = registers[(first + lane) * slots + ins.Sources[0]];
                    participating |= 1u << lane;
                }
            for (int lane = 0; lane < count; lane++)
            {
                int t = first + lane;
                if (states[t] != ThreadState.AtShuffle) continue;
                var r = registers.AsSpan(t * slots, slots);
                int b = (int)(r[ins.Sources[1]] & 31), c = (int)r[ins.Sources[2]];
                int clamp = c & 31, segmentMask = (c >> 8) & 31;
                int maxLane = (lane & segmentMask) | (clamp & ~segmentMask), minLane = lane & segmentMask;
                int j; bool inRange;
                switch (ins.Shuffle)
                {
                    case PtxShuffle.Up: j = lane - b; inRange = j >= maxLane; break;
                    case PtxShuffle.Down: j = lane + b; inRange = j <= maxLane; break;
                    case PtxShuffle.Bfly: j = lane ^ b; inRange = j <= maxLane; break;
                    default: j = minLane | (b & ~segmentMask); inRange = j <= maxLane; break;
                }
                if (!inRange) j = lane;
                if (j >= count || (participating & (1u << j)) == 0)
                    throw new PtxEmulatorException($"{ThreadName(t)}: {ins.Location} '{ins.Text}' reads lane {j}, which has exited or does not exist.");
                r[ins.Destinations[0]] = values[j];
                if (ins.Destinations.Length > 1) r[ins.Destinations[1]] = inRange ? 1UL : 0UL;
                foreach (int d in ins.Destinations) written[t * slots + d] = true;
                if (t == tracedThread) trace!.Record(kernel, ins, r, executed: true);
                pcs[t]++;
                states[t] = ThreadState.Running;
            }
            return true;
        }

        /// <summary>Releases a barrier every live thread waits at; false when every thread has exited.</summary>
        private bool ReleaseBarrier()
        {
            int pc = -1, waiting = 0;
            for (int t = 0; t < threads; t++)
            {
                switch (states[t])
                {
                    case ThreadState.Exited: continue;
                    case ThreadState.AtShuffle:
                        throw new PtxEmulatorException($"{ThreadName(t)}: waits at shfl.sync ({code[pcs[t]].Location}) that the rest of its warp never reaches.");
                    case ThreadState.AtBarrier:
                        if (pc >= 0 && pcs[t] != pc)
                            throw new PtxEmulatorException($"{ThreadName(t)}: waits at the barrier {code[pcs[t]].Location} while other threads wait at {code[pc].Location}; a barrier must be reached by all live threads.");
                        pc = pcs[t]; waiting++;
                        break;
                }
            }
            if (waiting == 0) return false;
            sharedChecker.Barrier();
            for (int t = 0; t < threads; t++)
                if (states[t] == ThreadState.AtBarrier)
                {
                    if (t == tracedThread) trace!.Record(kernel, code[pc], registers.AsSpan(t * slots, slots), executed: true);
                    states[t] = ThreadState.Running; pcs[t]++;
                }
            return true;
        }

        // ---- values -------------------------------------------------------------------------------------

        private static float F(ulong v) => BitConverter.UInt32BitsToSingle((uint)v);
        private static double D(ulong v) => BitConverter.UInt64BitsToDouble(v);
        private static ulong Bits(float f) => BitConverter.SingleToUInt32Bits(f);
        private static ulong Bits(double d) => BitConverter.DoubleToUInt64Bits(d);

        private static int Width(PtxType t) => PtxParser.SizeOf(t) * 8;
        private static ulong Mask(PtxType t) => Width(t) switch { 8 => 0xFF, 16 => 0xFFFF, 32 => 0xFFFF_FFFF, _ => ulong.MaxValue };
        private static bool IsSigned(PtxType t) => t is PtxType.S8 or PtxType.S16 or PtxType.S32 or PtxType.S64;

        /// <summary>The integer value of raw bits of type t, sign- or zero-extended to 64 bits.</summary>
        private static long Signed(ulong v, PtxType t) => Width(t) switch
        {
            8 => (sbyte)v, 16 => (short)v, 32 => (int)v, _ => (long)v,
        };

        private static ulong Integer(ulong v, PtxType t) => IsSigned(t) ? (ulong)Signed(v, t) : v & Mask(t);

        private void Execute(PtxInstruction ins, Span<ulong> r, int t)
        {
            var type = ins.Type;
            int[] s = ins.Sources;
            ulong a = s.Length > 0 ? r[s[0]] : 0, b = s.Length > 1 ? r[s[1]] : 0;
            ulong result;
            switch (ins.Op)
            {
                case PtxOp.Mov: result = a; break;
                case PtxOp.Add:
                    result = type switch { PtxType.F32 => Bits(F(a) + F(b)), PtxType.F64 => Bits(D(a) + D(b)), _ => (a + b) & Mask(type) };
                    break;
                case PtxOp.Sub:
                    result = type switch { PtxType.F32 => Bits(F(a) - F(b)), PtxType.F64 => Bits(D(a) - D(b)), _ => (a - b) & Mask(type) };
                    break;
                case PtxOp.Mul:
                    result = type switch { PtxType.F32 => Bits(F(a) * F(b)), PtxType.F64 => Bits(D(a) * D(b)), _ => (a * b) & Mask(type) };
                    break;
                case PtxOp.MulHi: result = MulHi(a, b, type); break;
                case PtxOp.MulWide: result = MulWide(a, b, type); break;
                case PtxOp.Mad: result = (a * b + r[s[2]]) & Mask(type); break;
                case PtxOp.MadWide: result = MulWide(a, b, type) + r[s[2]]; break;
                case PtxOp.Fma:
                    result = type == PtxType.F32 ? Bits(MathF.FusedMultiplyAdd(F(a), F(b), F(r[s[2]])))
                        : Bits(Math.FusedMultiplyAdd(D(a), D(b), D(r[s[2]])));
                    break;
                case PtxOp.Div: result = Divide(a, b, type); break;
                case PtxOp.Rem: result = Remainder(a, b, type); break;
                case PtxOp.Min:
                case PtxOp.Max: result = MinMax(a, b, type, ins.Op == PtxOp.Max); break;
                case PtxOp.Neg:
                    result = type switch { PtxType.F32 => Bits(-F(a)), PtxType.F64 => Bits(-D(a)), _ => (0 - a) & Mask(type) };
                    break;
                case PtxOp.Abs:
                    result = type switch
                    {
                        PtxType.F32 => a & 0x7FFF_FFFF, PtxType.F64 => a & 0x7FFF_FFFF_FFFF_FFFF,
                        _ => (ulong)(Signed(a, type) < 0 ? 0 - Signed(a, type) : Signed(a, type)) & Mask(type),
                    };
                    break;
                case PtxOp.And: result = a & b & Mask(type); break;
                case PtxOp.Or: result = (a | b) & Mask(type); break;
                case PtxOp.Xor: result = (a ^ b) & Mask(type); break;
                case PtxOp.Not: result = type == PtxType.Pred ? (a ^ 1) & 1 : ~a & Mask(type); break;
                case PtxOp.Shl:
                    result = (uint)b >= Width(type) ? 0 : (a << (int)(uint)b) & Mask(type);
                    break;
                case PtxOp.Shr:
                    if (IsSigned(type)) result = (ulong)(Signed(a, type) >> (int)Math.Min((uint)b, (uint)Width(type) - 1)) & Mask(type);
                    else result = (uint)b >= Width(type) ? 0 : (a & Mask(type)) >> (int)(uint)b;
                    break;
                case PtxOp.Setp:
                {
                    bool p = Compare(a, b, type, ins.Compare);
                    r[ins.Destinations[0]] = p ? 1UL : 0UL;
                    if (ins.Destinations.Length > 1) r[ins.Destinations[1]] = p ? 0UL : 1UL;
                    return;
                }
                case PtxOp.Selp: result = r[s[2]] != 0 ? a : b; break;
                case PtxOp.Cvt: result = Convert(a, ins.SourceType, type, ins.Rounding); break;
                case PtxOp.Cvta:
                    ulong window = ins.Space switch
                    {
                        PtxSpace.Shared => PtxParser.SharedWindow, PtxSpace.Local => LocalWindow, PtxSpace.Global => 0,
                        _ => throw new PtxEmulatorException($"{ins.Location}: unsupported instruction '{ins.Text}'"),
                    };
                    result = ins.ToSpace ? a - window : a + window;
                    break;
                case PtxOp.Ex2: result = type == PtxType.F32 ? Bits(float.Exp2(F(a))) : Bits(double.Exp2(D(a))); break;
                case PtxOp.Lg2: result = type == PtxType.F32 ? Bits(MathF.Log2(F(a))) : Bits(Math.Log2(D(a))); break;
                case PtxOp.Rcp: result = type == PtxType.F32 ? Bits(1f / F(a)) : Bits(1.0 / D(a)); break;
                case PtxOp.Sqrt: result = type == PtxType.F32 ? Bits(MathF.Sqrt(F(a))) : Bits(Math.Sqrt(D(a))); break;
                case PtxOp.Rsqrt: result = type == PtxType.F32 ? Bits(1f / MathF.Sqrt(F(a))) : Bits(1.0 / Math.Sqrt(D(a))); break;
                case PtxOp.Ld: Load(ins, r, t); return;
                case PtxOp.St: Store(ins, r, t); return;
                case PtxOp.Atom:
                case PtxOp.Red: Atomic(ins, r, t); return;
                default: throw new PtxEmulatorException($"{ins.Location}: unsupported instruction '{ins.Text}'");
            }
            r[ins.Destinations[0]] = result;
        }

        private static ulong MulHi(ulong a, ulong b, PtxType type) => type switch
        {
            PtxType.S32 => (uint)(((long)(int)a * (int)b) >> 32),
            PtxType.U32 or PtxType.B32 => ((ulong)(uint)a * (uint)b) >> 32,
            PtxType.S64 => (ulong)Math.BigMul((long)a, (long)b, out _),
            _ => Math.BigMul(a, b, out _),
        };

        private static ulong MulWide(ulong a, ulong b, PtxType type) => type switch
        {
            PtxType.S32 => (ulong)((long)(int)a * (int)b),
            PtxType.S16 => (uint)((short)a * (short)b),
            PtxType.U16 => (ulong)(ushort)a * (ushort)b,
            _ => (ulong)(uint)a * (uint)b,
        };

        private static ulong Divide(ulong a, ulong b, PtxType type)
        {
            switch (type)
            {
                case PtxType.F32: return Bits(F(a) / F(b));
                case PtxType.F64: return Bits(D(a) / D(b));
            }
            if ((b & Mask(type)) == 0) return Mask(type);
            if (!IsSigned(type)) return (a & Mask(type)) / (b & Mask(type));
            long x = Signed(a, type), y = Signed(b, type);
            return (ulong)(y == -1 ? 0 - x : x / y) & Mask(type);
        }

        private static ulong Remainder(ulong a, ulong b, PtxType type)
        {
            if ((b & Mask(type)) == 0) return a & Mask(type);
            if (!IsSigned(type)) return (a & Mask(type)) % (b & Mask(type));
            long x = Signed(a, type), y = Signed(b, type);
            return (ulong)(y == -1 ? 0 : x % y) & Mask(type);
        }

        /// <summary>Float min/max return the other operand when one is NaN (and NaN only when both are); -0 &lt; +0.</summary>
        private static ulong MinMax(ulong a, ulong b, PtxType type, bool max)
        {
            switch (type)
            {
                case PtxType.F32: return Bits(max ? float.MaxNumber(F(a), F(b)) : float.MinNumber(F(a), F(b)));
                case PtxType.F64: return Bits(max ? double.MaxNumber(D(a), D(b)) : double.MinNumber(D(a), D(b)));
            }
            if (IsSigned(type))
            {
                long x = Signed(a, type), y = Signed(b, type);
                return (ulong)(max ? Math.Max(x, y) : Math.Min(x, y)) & Mask(type);
            }
            ulong u = a & Mask(type), v = b & Mask(type);
            return max ? Math.Max(u, v) : Math.Min(u, v);
        }

        private static bool Compare(ulong a, ulong b, PtxType type, PtxCompare compare)
        {
            if (type is PtxType.F32 or PtxType.F64)
            {
                double x = type == PtxType.F32 ? F(a) : D(a), y = type == PtxType.F32 ? F(b) : D(b);
                bool nan = double.IsNaN(x) || double.IsNaN(y);
                return compare switch
                {
                    PtxCompare.Eq => x == y, PtxCompare.Ne => !nan && x != y, PtxCompare.Lt => x < y,
                    PtxCompare.Le => x <= y, PtxCompare.Gt => x > y, PtxCompare.Ge => x >= y,
                    PtxCompare.Equ => nan || x == y, PtxCompare.Neu => nan || x != y, PtxCompare.Ltu => nan || x < y,
                    PtxCompare.Leu => nan || x <= y, PtxCompare.Gtu => nan || x > y, PtxCompare.Geu => nan || x >= y,
                    PtxCompare.Num => !nan, PtxCompare.Nan => nan,
                    _ => throw new PtxEmulatorException($"setp.{compare} is not a float comparison"),
                };
            }
            ulong u = a & Mask(type), v = b & Mask(type);
            long i = Signed(a, type), j = Signed(b, type);
            bool signed = IsSigned(type);
            return compare switch
            {
                PtxCompare.Eq => u == v, PtxCompare.Ne => u != v,
                PtxCompare.Lt => signed ? i < j : u < v, PtxCompare.Le => signed ? i <= j : u <= v,
                PtxCompare.Gt => signed ? i > j : u > v, PtxCompare.Ge => signed ? i >= j : u >= v,
                PtxCompare.Lo => u < v, PtxCompare.Ls => u <= v, PtxCompare.Hi => u > v, PtxCompare.Hs => u >= v,
                _ => throw new PtxEmulatorException($"setp.{compare} is not an integer comparison"),
            };
        }

        /// <summary>cvt: integer widen/narrow, int &lt;-&gt; float (float -&gt; int saturates, NaN -&gt; 0), float widen/narrow, round to integral.</summary>
        private static ulong Convert(ulong a, PtxType from, PtxType to, PtxRounding rounding)
        {
            bool fromFloat = from is PtxType.F16 or PtxType.F32 or PtxType.F64, toFloat = to is PtxType.F16 or PtxType.F32 or PtxType.F64;
            if (!fromFloat && !toFloat) return Integer(a, from) & Mask(to);
            double x = from switch
            {
                PtxType.F16 => (double)BitConverter.UInt16BitsToHalf((ushort)a), PtxType.F32 => F(a), PtxType.F64 => D(a),
                _ => IsSigned(from) ? Signed(a, from) : (double)(a & Mask(from)),
            };
            if (!fromFloat)
            {
                // Integer -> float: round to nearest (64-bit integers go straight to float to avoid double rounding).
                return to switch
                {
                    PtxType.F32 => Bits(IsSigned(from) ? (float)Signed(a, from) : (float)(a & Mask(from))),
                    PtxType.F64 => Bits(IsSigned(from) ? (double)Signed(a, from) : (double)(a & Mask(from))),
                    _ => BitConverter.HalfToUInt16Bits((Half)x),
                };
            }
            double integral = rounding switch
            {
                PtxRounding.Rni => Math.Round(x, MidpointRounding.ToEven), PtxRounding.Rzi => Math.Truncate(x),
                PtxRounding.Rmi => Math.Floor(x), PtxRounding.Rpi => Math.Ceiling(x), _ => x,
            };
            if (!toFloat)
            {
                if (double.IsNaN(integral)) return 0;   // (the parser has checked the rounding modifier)
                int width = Width(to);
                if (IsSigned(to))
                {
                    double low = -Math.Pow(2, width - 1), high = Math.Pow(2, width - 1) - 1;
                    long v = integral <= low ? (long)low : integral >= high ? (width == 64 ? long.MaxValue : (long)high) : (long)integral;
                    return (ulong)v & Mask(to);
                }
                double max = Math.Pow(2, width) - 1;
                return integral <= 0 ? 0 : integral >= max ? Mask(to) : (ulong)integral;
            }
            switch (to)
            {
                case PtxType.F64: return Bits(integral);
                case PtxType.F16: return BitConverter.HalfToUInt16Bits((Half)(float)integral);
            }
            if (from == PtxType.F32 || rounding is PtxRounding.Default or PtxRounding.Rn or >= PtxRounding.Rni) return Bits((float)integral);
            // float64 -> float32 with a directed rounding: take the nearest, then step towards the requested direction.
            float nearest = (float)integral;
            if (double.IsNaN(integral) || (double)nearest == integral || float.IsInfinity(nearest) && double.IsInfinity(integral)) return Bits(nearest);
            bool tooBig = nearest > integral;
            float adjusted = rounding switch
            {
                PtxRounding.Rz => Math.Abs((double)nearest) > Math.Abs(integral) ? (tooBig ? MathF.BitDecrement(nearest) : MathF.BitIncrement(nearest)) : nearest,
                PtxRounding.Rm => tooBig ? MathF.BitDecrement(nearest) : nearest,
                _ => tooBig ? nearest : MathF.BitIncrement(nearest),
            };
            return Bits(adjusted);
        }

        // ---- memory -------------------------------------------------------------------------------------

        private ulong AddressOf(PtxInstruction ins, Span<ulong> r) =>
            (ins.AddressBase >= 0 ? r[ins.AddressBase] : 0) + (ulong)ins.AddressOffset;

        /// <summary>The first byte of an access of <paramref name="length"/> bytes, checked for bounds and alignment.</summary>
        private ref byte Resolve(PtxInstruction ins, Span<ulong> r, int t, int length, bool write)
        {
            ulong address = AddressOf(ins, r);
            var space = ins.Space;
            if (space == PtxSpace.Generic)
            {
                if (address - PtxParser.SharedWindow < (ulong)shared.Length) { space = PtxSpace.Shared; address -= PtxParser.SharedWindow; }
                else if (address - LocalWindow < (ulong)kernel.LocalBytes) { space = PtxSpace.Local; address -= LocalWindow; }
                else space = PtxSpace.Global;
            }
            if (space != PtxSpace.Param && address % (ulong)length != 0)
                throw new PtxEmulatorException($"{ThreadName(t)}: {ins.Location} '{ins.Text}' {(write ? "writes" : "reads")} {length} bytes at the misaligned address 0x{address:x} (.{space.ToString().ToLowerInvariant()}; it must be a multiple of {length}).");
            switch (space)
            {
                case PtxSpace.Global:
                {
                    var allocation = lastAllocation;
                    if (allocation is null || address < allocation.Address || address + (ulong)length > allocation.End)
                    {
                        allocation = EmulatedMemory.Find(allocations, address, length)
                            ?? throw new PtxEmulatorException($"{ThreadName(t)}: {ins.Location} '{ins.Text}' {(write ? "writes" : "reads")} {length} bytes at global address 0x{address:x}, {EmulatedMemory.Describe(allocations, address)}");
                        lastAllocation = allocation;
                    }
                    return ref allocation.Bytes[(long)(address - allocation.Address)];
                }
                case PtxSpace.Shared:
                {
                    ref byte at = ref Bounded(shared, 0, shared.Length, address, length, ins, t, write);
                    if (!write) sharedChecker.Read(t, (int)address, length, ins);
                    else sharedChecker.Write(t, (int)address, length, ins, atomic: ins.Op is PtxOp.Atom or PtxOp.Red);
                    return ref at;
                }
                case PtxSpace.Local: return ref Bounded(local, t * kernel.LocalBytes, kernel.LocalBytes, address, length, ins, t, write);
                default:
                    if (write) throw new PtxEmulatorException($"{ins.Location}: st.param is not supported");
                    return ref Bounded(parameters, 0, kernel.ParameterBytes, address, length, ins, t, write);
            }
        }

        private ref byte Bounded(byte[] bytes, int start, int size, ulong address, int length, PtxInstruction ins, int t, bool write)
        {
            if (address + (ulong)length > (ulong)size)
                throw new PtxEmulatorException($"{ThreadName(t)}: {ins.Location} '{ins.Text}' {(write ? "writes" : "reads")} {length} bytes at .{ins.Space.ToString().ToLowerInvariant()} address 0x{address:x}, outside the {size} bytes of that space.");
            return ref bytes[start + (int)address];
        }

        private void Load(PtxInstruction ins, Span<ulong> r, int t)
        {
            int size = PtxParser.SizeOf(ins.Type);
            ref byte at = ref Resolve(ins, r, t, size * ins.Vector, write: false);
            var destinations = ins.Destinations;
            for (int i = 0; i < destinations.Length; i++)
            {
                ref byte p = ref Unsafe.Add(ref at, i * size);
                r[destinations[i]] = ins.Type switch
                {
                    PtxType.U8 or PtxType.B8 => p,
                    PtxType.S8 => (ulong)(sbyte)p,
                    PtxType.S16 => (ulong)Unsafe.ReadUnaligned<short>(ref p),
                    PtxType.U16 or PtxType.B16 or PtxType.F16 => Unsafe.ReadUnaligned<ushort>(ref p),
                    PtxType.U32 or PtxType.B32 or PtxType.S32 or PtxType.F32 => Unsafe.ReadUnaligned<uint>(ref p),
                    _ => Unsafe.ReadUnaligned<ulong>(ref p),
                };
            }
        }

        private void Store(PtxInstruction ins, Span<ulong> r, int t)
        {
            int size = PtxParser.SizeOf(ins.Type);
            ref byte at = ref Resolve(ins, r, t, size * ins.Vector, write: true);
            var sources = ins.Sources;
            for (int i = 0; i < sources.Length; i++)
            {
                ref byte p = ref Unsafe.Add(ref at, i * size);
                ulong v = r[sources[i]];
                switch (size)
                {
                    case 1: p = (byte)v; break;
                    case 2: Unsafe.WriteUnaligned(ref p, (ushort)v); break;
                    case 4: Unsafe.WriteUnaligned(ref p, (uint)v); break;
                    default: Unsafe.WriteUnaligned(ref p, v); break;
                }
            }
        }

        /// <summary>atom/red: a real read-modify-write (Interlocked), since blocks run on several host threads.</summary>
        private void Atomic(PtxInstruction ins, Span<ulong> r, int t)
        {
            int size = PtxParser.SizeOf(ins.Type);
            ref byte at = ref Resolve(ins, r, t, size, write: true);
            ulong operand = r[ins.Sources[0]], old;
            if (size == 4)
            {
                ref uint cell = ref Unsafe.As<byte, uint>(ref at);
                uint seen, next;
                do
                {
                    seen = Volatile.Read(ref cell);
                    next = (uint)AtomicResult(seen, operand, ins);
                } while (Interlocked.CompareExchange(ref cell, next, seen) != seen);
                old = seen;
            }
            else if (size == 8)
            {
                ref ulong cell = ref Unsafe.As<byte, ulong>(ref at);
                ulong seen, next;
                do
                {
                    seen = Volatile.Read(ref cell);
                    next = AtomicResult(seen, operand, ins);
                } while (Interlocked.CompareExchange(ref cell, next, seen) != seen);
                old = seen;
            }
            else throw new PtxEmulatorException($"{ins.Location}: unsupported instruction '{ins.Text}' (atomics on 32- and 64-bit values only)");
            if (ins.Op == PtxOp.Atom) r[ins.Destinations[0]] = old;
        }

        private static ulong AtomicResult(ulong current, ulong operand, PtxInstruction ins) => ins.Atomic switch
        {
            PtxAtomic.Add => ins.Type switch
            {
                PtxType.F32 => Bits(F(current) + F(operand)), PtxType.F64 => Bits(D(current) + D(operand)),
                _ => (current + operand) & Mask(ins.Type),
            },
            PtxAtomic.Max => MinMax(current, operand, ins.Type, max: true),
            PtxAtomic.Min => MinMax(current, operand, ins.Type, max: false),
            _ => operand,
        };
    }
}
