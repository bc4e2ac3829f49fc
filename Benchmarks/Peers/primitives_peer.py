"""PyTorch's side of the per-primitive benchmark (run by FerEngine.Benchmarks `primitives`).

usage: python3 primitives_peer.py [--device cpu|cuda] --batch 32 --threads 2 --repeats 5 [--only TEXT]
Prints one JSON object: {case name: milliseconds (median)}, for every case or those whose name contains TEXT. The cases and shapes are the same as
Benchmarks/Kernels/PrimitiveThroughput.cs: the paper network's layers at the given batch.
On cuda each sample is back-to-back calls between two CUDA events (as FerEngine's runner), with TF32 for
convolutions (PyTorch's default) and for matrix products (not its default: FerEngine's GPU rows use TF32 there too).
The loss rows compute the gradient with the loss, as FerEngine's loss primitives do. A case that fails is
reported on stderr and left out.
"""
import argparse, json, math, sys, time
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=32)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--repeats", type=int, default=5)
p.add_argument("--device", default="cpu")
p.add_argument("--only", default="")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
N = a.batch
D = torch.device(a.device)
if a.device == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = True


def randn(*shape):
    return torch.randn(*shape, device=D)


def gpu_ms(fn, calls):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / calls


def median_ms(fn):
    # Each sample is the mean of back-to-back calls filling at least 50 ms (CPU) or 2 ms of GPU time (cuda),
    # as FerEngine's runner does: on a GPU a lone call would time its launch more than its kernels.
    if a.device == "cuda":
        fn()
        calls = max(1, min(1000, math.ceil(2.0 / max(gpu_ms(fn, 1), 1e-4))))
        times = [gpu_ms(fn, calls) for _ in range(a.repeats)]
    else:
        start = time.perf_counter()
        fn()
        calls = max(1, min(10_000, math.ceil(0.05 / max(time.perf_counter() - start, 1e-6))))
        times = []
        for _ in range(a.repeats):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            times.append((time.perf_counter() - start) * 1e3 / calls)
    return sorted(times)[len(times) // 2]


results = {}


def bench(name, fn):
    if a.only in name:
        try:
            results[name] = median_ms(fn)
        except Exception as e:  # one case's failure costs its row, not the column
            print(f"{name} failed: {e!r}", file=sys.stderr)


convs = {"conv1": (1, 64, 48, 5), "conv2": (64, 64, 48, 5), "conv3": (64, 128, 24, 3),
         "conv4": (128, 128, 24, 3), "conv5": (128, 256, 12, 3), "conv6": (256, 256, 12, 3)}
for name, (cin, cout, hw, k) in convs.items():
    x, w, b = randn(N, cin, hw, hw), randn(cout, cin, k, k), randn(cout)
    dy = randn(N, cout, hw, hw)
    bench(f"{name} forward", lambda: F.conv2d(x, w, b, padding=k // 2))
    bench(f"{name} backward-data", lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, padding=k // 2))
    bench(f"{name} backward-filter", lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, padding=k // 2))
x, w = randn(N, 9216), randn(128, 9216)
dy_fc = randn(N, 128)
bench("fc gemm", lambda: F.linear(x, w))
bench("fc backward-data gemm", lambda: dy_fc @ w)
bench("fc backward-weight gemm", lambda: dy_fc.t() @ x)
fc_y, fc_bias = randn(N, 128), randn(128)
bench("fc add-bias", lambda: fc_y.add_(fc_bias))
hx, dhx = randn(N, 128), randn(N, 128)
head_w = [randn(k, 128) for k in (7, 3, 3, 5)]
head_dy = [randn(N, k) for k in (7, 3, 3, 5)]
bench("head gemms (4 heads)", lambda: [F.linear(hx, w) for w in head_w])
bench("head backward-data gemms (4 heads)", lambda: [dy @ w for dy, w in zip(head_dy, head_w)])
bench("head backward-weight gemms (4 heads)", lambda: [dy.t() @ hx for dy in head_dy])
bench("add (head input gradients)", lambda: [dhx.add_(hx) for _ in range(3)])
act = randn(N, 64, 48, 48)
dy = torch.randn_like(act)
g, beta, rm, rv = torch.ones(64, device=D), torch.zeros(64, device=D), torch.zeros(64, device=D), torch.ones(64, device=D)
bench("batch-norm forward", lambda: torch.ops.aten.native_batch_norm(act, g, beta, rm, rv, True, 0.01, 1e-3))
_, mean, invstd = torch.ops.aten.native_batch_norm(act, g, beta, rm, rv, True, 0.01, 1e-3)
bench("batch-norm inference", lambda: torch.ops.aten.native_batch_norm(act, g, beta, rm, rv, False, 0.01, 1e-3))
bench("batch-norm backward", lambda: torch.ops.aten.native_batch_norm_backward(dy, act, g, rm, rv, mean, invstd, True, 1e-3, [True, True, True]))
y = F.elu(act)
bench("conv2 bias backward", lambda: dy.sum((0, 2, 3)))
bench("elu forward", lambda: F.elu(act))
# The network's forward after each convolution: the bias (PyTorch adds it in its conv call), ELU, batch norm.
bias = randn(64).view(1, 64, 1, 1)
bench("bias + elu + batch-norm forward", lambda: torch.ops.aten.native_batch_norm(F.elu(act + bias), g, beta, rm, rv, True, 0.01, 1e-3))
bench("elu backward", lambda: torch.ops.aten.elu_backward(dy, 1.0, 1, 1, True, y))
# PyTorch has no fused op: its autograd runs batch norm's backward, then ELU's, as FerEngine did before.
bench("batch-norm + elu backward", lambda: torch.ops.aten.elu_backward(
    torch.ops.aten.native_batch_norm_backward(dy, y, g, rm, rv, mean, invstd, True, 1e-3, [True, True, True])[0], 1.0, 1, 1, True, y))
pooled, indices = F.max_pool2d(act, 2, return_indices=True)
bench("max-pool forward", lambda: F.max_pool2d(act, 2, return_indices=True))
dpooled = torch.randn_like(pooled)
bench("max-pool backward", lambda: torch.ops.aten.max_pool2d_with_indices_backward(dpooled, act, [2, 2], [2, 2], [0, 0], [1, 1], False, indices))
small = randn(N, 64, 24, 24)
bench("dropout forward", lambda: F.dropout(small, 0.6, True))
keep = torch.rand_like(small) > 0.6   # a bool mask made once: the conversion is not part of the backward
bench("dropout backward", lambda: torch.ops.aten.native_dropout_backward(small, keep, 1 / 0.4))


def image_batch(pixels):
    # What a PyTorch input pipeline does per batch: to float / 255, replicate-pad 4, random crop, random flip.
    padded = F.pad(pixels.float().div_(255), (4, 4, 4, 4), mode="replicate")
    shifts = torch.randint(0, 9, (N, 2)).tolist()
    flips = (torch.rand(N) < 0.5).tolist()
    out = torch.empty(N, 1, 48, 48, device=D)
    for i in range(N):
        dy, dx = shifts[i]
        crop = padded[i, :, dy:dy + 48, dx:dx + 48]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


pixels = torch.randint(0, 256, (N, 1, 48, 48), dtype=torch.uint8, device=D)
bench("image batch (crop + flip)", lambda: image_batch(pixels))
# The loss and its gradient with respect to the logits, as FerEngine's loss primitives compute both.
logits, labels = randn(N, 7).requires_grad_(), torch.randint(0, 7, (N,), device=D)
bench("softmax cross-entropy", lambda: torch.autograd.grad(F.cross_entropy(logits, labels), logits))
heads = [randn(N, k).requires_grad_() for k in (7, 3, 3, 5)]
head_labels = [torch.randint(0, k, (N,), device=D) for k in (7, 3, 3, 5)]
bench("joint loss (4 heads)", lambda: torch.autograd.grad(
    sum(w * F.cross_entropy(h, y, ignore_index=-1) for w, h, y in zip((2.0, 0.1, 1.5, 4.0), heads, head_labels)), heads))
d_heads = [torch.randn_like(h) for h in heads]
d_total = torch.ones((), device=D)
bench("joint loss backward (scale segments)", lambda: [g * (w * d_total) for g, w in zip(d_heads, (2.0, 0.1, 1.5, 4.0))])
bench("argmax (4 heads)", lambda: [h.argmax(1) for h in heads])
params = torch.nn.Parameter(randn(2_394_962))
params.grad = torch.randn_like(params)
opt = torch.optim.Adam([params], lr=3e-4)
bench("adam (2.39 M parameters)", opt.step)
print(json.dumps(results))
