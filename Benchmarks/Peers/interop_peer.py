"""Loads a FerEngine model.safetensors into the PyTorch reference network and records its predictions.

usage: /usr/bin/python3 interop_peer.py MODEL.safetensors OUT.safetensors
The network's shape comes from the file's __metadata__["config"]; the attribute names are the same
as FerEngine's, so the state dict loads unchanged (strict=True). Writes `input` (8 images drawn from
a fixed seed), `logits.<task>` in evaluation mode and `prediction.<task>` (argmax): what
`fer eval` must reproduce. Tests/Model/InteropTests.cs compares against the committed output.
"""
import json, os, struct, sys
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fernet import FerNet, TASK_CLASSES
from make_golden import save

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}


def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        tensors[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
    return tensors, meta


model_path, out_path = sys.argv[1], sys.argv[2]
state, meta = load(model_path)
config = json.loads(meta["config"])
net = FerNet(width=config["Width"], channels=config["Channels"], height=config["Height"], image_width=config["ImageWidth"])
net.load_state_dict(state, strict=False)
missing = [k for k in net.state_dict() if k not in state and not k.endswith("num_batches_tracked")]
assert not missing, f"FerEngine file lacks {missing}"
net.eval()
torch.manual_seed(5)
x = torch.rand(8, config["Channels"], config["Height"], config["ImageWidth"])
with torch.no_grad():
    out = net(x)
result = {"input": x}
for task in TASK_CLASSES:
    result[f"logits.{task}"] = out[task]
    result[f"prediction.{task}"] = out[task].argmax(1)
save(out_path, result, {"torch": torch.__version__})
print("wrote", out_path)
