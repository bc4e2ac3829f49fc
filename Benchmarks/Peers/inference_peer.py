"""PyTorch's side of the CPU inference benchmark (run by FerEngine.Benchmarks' `inference` command).

usage: /usr/bin/python3 inference_peer.py --width 1 --batch 32 --threads 2 --seconds 3
Prints one JSON line: {"images_per_second": ..., "batches": ..., "torch": "..."}.
The same net in evaluation mode (running batch-norm statistics, no dropout) under torch.inference_mode(),
with each head's softmax, as `fer export`'s ONNX model computes it.
"""
import argparse, json, os, sys, time
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fernet import FerNet

p = argparse.ArgumentParser()
p.add_argument("--width", type=float, default=1.0)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seconds", type=float, default=3.0)
p.add_argument("--warmup", type=int, default=3)
a = p.parse_args()

torch.set_num_threads(a.threads)
torch.manual_seed(0)
net = FerNet(width=a.width).eval()
x = torch.rand(a.batch, 1, 48, 48)

def forward():
    return {task: torch.softmax(logits, dim=1) for task, logits in net(x).items()}

with torch.inference_mode():
    for _ in range(a.warmup):
        forward()
    batches, start = 0, time.perf_counter()
    while time.perf_counter() - start < a.seconds or batches < 3:
        forward()
        batches += 1
    elapsed = time.perf_counter() - start
print(json.dumps({"images_per_second": batches * a.batch / elapsed, "batches": batches, "seconds": elapsed,
                  "torch": torch.__version__, "threads": torch.get_num_threads()}))
