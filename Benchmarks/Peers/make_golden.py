"""Writes the PyTorch goldens under Tests/Golden/ that the C# tests compare against.

usage: /usr/bin/python3 Benchmarks/Peers/make_golden.py    (Debian's python3-torch, CPU)
Everything is seeded; the files are committed, so CI needs no PyTorch. Files:
  ops_f64.safetensors       per-op inputs, outputs and input gradients of L = sum(out * r), float64
  optim_f32.safetensors     Adam (weight decay 0 and 0.01, three steps) and SGD momentum (two steps)
  paper_step_w025.safetensors  one whole training step of the paper net at width 0.25, batch 8,
                            on 1x40x40 inputs (any multiple of 8 is valid; 40 instead of 48 keeps
                            all goldens under the 2 MB budget: the fc layer shrinks from 2304 to 1600 inputs)
"""
import json, os, struct, sys
import torch
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fernet import FerNet, TASK_CLASSES, joint_loss

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Golden")
SIDE = 40
DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}


def save(path, tensors, metadata=None):
    """A minimal safetensors writer (json + struct): an implementation independent of ours."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def op_case(out, name, fn, inputs, g):
    """Records inputs, output and gradients of L = sum(fn(inputs) * r) under name.*"""
    inputs = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
    y = fn(*inputs)
    r = torch.randn(y.shape, dtype=torch.float64, generator=g)
    (y * r).sum().backward()
    for i, x in enumerate(inputs):
        out[f"{name}.in{i}"] = x.detach()
        if x.grad is not None:
            out[f"{name}.grad{i}"] = x.grad
    out[f"{name}.out"] = y.detach()
    out[f"{name}.r"] = r


def ops():
    g = torch.Generator().manual_seed(1)
    rnd = lambda *s: torch.randn(*s, dtype=torch.float64, generator=g)
    out = {}
    for n in (1, 3):
        op_case(out, f"linear.b{n}", lambda x, w, b: F.linear(x, w, b), [rnd(n, 13), rnd(7, 13), rnd(7)], g)
        op_case(out, f"conv5.b{n}", lambda x, w, b: F.conv2d(x, w, b, padding=2), [rnd(n, 3, 9, 7), rnd(5, 3, 5, 5), rnd(5)], g)
        op_case(out, f"conv3.b{n}", lambda x, w, b: F.conv2d(x, w, b, padding=1), [rnd(n, 2, 7, 5), rnd(3, 2, 3, 3), rnd(3)], g)
        op_case(out, f"elu.b{n}", F.elu, [rnd(n, 5, 7)], g)
        op_case(out, f"relu.b{n}", F.relu, [rnd(n, 5, 7)], g)
        op_case(out, f"maxpool.b{n}", lambda x: F.max_pool2d(x, 2), [rnd(n, 3, 7, 9)], g)
    for shape, tag in (((5, 6), "bn1d"), ((3, 4, 5, 7), "bn2d")):
        c = shape[1]
        rm, rv = torch.zeros(c, dtype=torch.float64), torch.ones(c, dtype=torch.float64)
        op_case(out, tag, lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.01, eps=1e-3),
                [rnd(*shape), rnd(c), rnd(c)], g)
        out[f"{tag}.running_mean"], out[f"{tag}.running_var"] = rm, rv
    labels = torch.tensor([2, -1, 0, -1, 6, 3, -1], dtype=torch.int64)
    def masked_ce(z, lab=labels):
        m = lab >= 0
        return F.cross_entropy(z[m], lab[m]) if bool(m.any()) else z.sum() * 0.0
    op_case(out, "ce", masked_ce, [rnd(7, 7)], g)
    out["ce.labels"] = labels
    none = torch.full((4,), -1, dtype=torch.int64)
    op_case(out, "ce_none", lambda z: masked_ce(z, none), [rnd(4, 5)], g)
    out["ce_none.labels"] = none
    save(os.path.join(OUT, "ops_f64.safetensors"), out)


def optimisers():
    g = torch.Generator().manual_seed(2)
    out = {}
    for wd in (0.0, 0.01):
        p = torch.nn.Parameter(torch.randn(257, generator=g))
        out[f"adam_wd{wd}.init"] = p.detach().clone()
        opt = torch.optim.Adam([p], lr=3e-4, weight_decay=wd)
        for step in range(3):
            p.grad = torch.randn(257, generator=g) * 10 ** (step - 2)
            out[f"adam_wd{wd}.grad{step}"] = p.grad.clone()
            opt.step()
            out[f"adam_wd{wd}.after{step}"] = p.detach().clone()
    p = torch.nn.Parameter(torch.randn(101, generator=g))
    out["sgd.init"] = p.detach().clone()
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    for step in range(2):
        p.grad = torch.randn(101, generator=g)
        out[f"sgd.grad{step}"] = p.grad.clone()
        opt.step()
        out[f"sgd.after{step}"] = p.detach().clone()
    save(os.path.join(OUT, "optim_f32.safetensors"), out)


def paper_step():
    torch.manual_seed(3)
    net = FerNet(width=0.25, height=SIDE, image_width=SIDE, dropout=False).train()
    # Non-trivial batch-norm affine parameters, so that their gradients are exercised too.
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.startswith("bn") and name.endswith("weight"):
                p.uniform_(0.5, 1.5)
            elif name.startswith("bn") or name.endswith("bias"):
                p.uniform_(-0.2, 0.2)
    out = {f"init.{k}": v.clone() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    x = torch.rand(8, 1, SIDE, SIDE)
    labels = {
        "emotion": torch.tensor([0, 3, -1, 6, 2, -1, 5, 1]),
        "gender": torch.tensor([-1, 1, 0, -1, 2, 1, -1, 0]),
        "race": torch.tensor([2, -1, -1, 0, 1, -1, 2, 0]),
        "age": torch.tensor([4, 0, 1, -1, 3, 2, -1, 2]),
    }
    opt = torch.optim.Adam(net.parameters(), lr=3e-4)
    total, per_task = joint_loss(net(x), labels)
    total.backward()
    out["input"] = x
    for t, lab in labels.items():
        out[f"label.{t}"] = lab
        out[f"loss.{t}"] = per_task[t].detach().reshape(())
    out["loss.total"] = total.detach().reshape(())
    for name, p in net.named_parameters():
        out[f"grad.{name}"] = p.grad.clone()
    opt.step()
    out.update({f"param.{k}": v.clone() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")})
    save(os.path.join(OUT, "paper_step_w025.safetensors"), out, {"torch": torch.__version__, "config": json.dumps({"Width": 0.25, "Channels": 1, "Height": SIDE, "ImageWidth": SIDE}), "note": "batch 8, dropout off, Adam lr 3e-4"})


if __name__ == "__main__":
    torch.set_default_dtype(torch.float32)
    os.makedirs(OUT, exist_ok=True)
    ops()
    optimisers()
    paper_step()
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)), "bytes")
