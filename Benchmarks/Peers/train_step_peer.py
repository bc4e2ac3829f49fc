"""PyTorch's side of the end-to-end training-step benchmark (run by FerEngine.Benchmarks).

usage: /usr/bin/python3 train_step_peer.py --width 1 --batch 32 --threads 2 --seconds 20
Prints one JSON line: {"images_per_second": ..., "steps": ..., "torch": "..."}.
Same net, same loss and optimiser as FerEngine's step: Adam lr 3e-4, joint loss, all heads labelled.
"""
import argparse, json, os, sys, time
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fernet import FerNet, TASK_CLASSES, joint_loss

p = argparse.ArgumentParser()
p.add_argument("--width", type=float, default=1.0)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seconds", type=float, default=20.0)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--device", default="cpu")
p.add_argument("--mode", default="eager", choices=["eager", "strict", "graph"],
               help="GPU: eager (PyTorch's defaults: cuDNN may use TF32), strict (no TF32 anywhere), graph (the whole step in one CUDA graph)")
a = p.parse_args()
if a.mode == "strict":
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False

torch.set_num_threads(a.threads)
torch.manual_seed(0)
dev = torch.device(a.device)
net = FerNet(width=a.width).to(dev).train()
opt = torch.optim.Adam(net.parameters(), lr=3e-4, capturable=(a.mode == "graph"))
x = torch.rand(a.batch, 1, 48, 48, device=dev)
labels = {t: torch.randint(0, c, (a.batch,), device=dev) for t, c in TASK_CLASSES.items()}

def step():
    opt.zero_grad(set_to_none=True)
    loss, _ = joint_loss(net(x), labels)
    loss.backward()
    opt.step()
    return loss

if a.mode == "graph":
    # PyTorch's whole-network capture recipe: warm up on a side stream, capture one step, replay it.
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(a.warmup):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        captured_loss, _ = joint_loss(net(x), labels)
        captured_loss.backward()
        opt.step()

    def step():
        graph.replay()
        return captured_loss
else:
    for _ in range(a.warmup):
        step()
if dev.type == "cuda":
    torch.cuda.synchronize()
steps, start = 0, time.perf_counter()
while time.perf_counter() - start < a.seconds or steps < 3:
    loss = step()
    steps += 1
float(loss)  # wait for the last step
elapsed = time.perf_counter() - start
settings = {"torch": torch.__version__, "threads": torch.get_num_threads()}
if dev.type == "cuda":   # what actually ran: the table's columns name modes, this says what they meant here
    settings.update(cudnn=torch.backends.cudnn.version(), cudnn_tf32=torch.backends.cudnn.allow_tf32,
                    matmul_tf32=torch.backends.cuda.matmul.allow_tf32, cudnn_deterministic=torch.backends.cudnn.deterministic,
                    cudnn_benchmark=torch.backends.cudnn.benchmark, gpu=torch.cuda.get_device_name())
print(json.dumps({"images_per_second": steps * a.batch / elapsed, "steps": steps, "seconds": elapsed, **settings}))
