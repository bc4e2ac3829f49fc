"""The saroop2021 multi-task network in PyTorch, with FerEngine's attribute names.

Shared by the peer scripts: it is the reference a FerEngine checkpoint loads into
(see ../../shared MODEL_AND_DATA.md). Order in every block: conv -> ELU -> batch norm.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

TASK_CLASSES = {"emotion": 7, "gender": 3, "race": 3, "age": 5}
TASK_WEIGHTS = {"emotion": 2.0, "gender": 0.1, "race": 1.5, "age": 4.0}


class FerNet(nn.Module):
    def __init__(self, width=1.0, channels=1, height=48, image_width=48, dropout=True):
        super().__init__()
        s = lambda c: max(1, int(round(c * width)))
        b1, b2, b3, hidden = s(64), s(128), s(256), s(128)
        specs = [(channels, b1, 5), (b1, b1, 5), (b1, b2, 3), (b2, b2, 3), (b2, b3, 3), (b3, b3, 3)]
        for i, (cin, cout, k) in enumerate(specs, start=1):
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, k, padding=k // 2))
            setattr(self, f"bn{i}", nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01))
        self.fc = nn.Linear(b3 * (height // 8) * (image_width // 8), hidden)
        self.bn_fc = nn.BatchNorm1d(hidden, eps=1e-3, momentum=0.01)
        for task, classes in TASK_CLASSES.items():
            setattr(self, f"head_{task}", nn.Linear(hidden, classes))
        self.drop = [0.6, 0.5, 0.4, 0.4] if dropout else [0.0] * 4
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")  # He-normal, fan-in
                nn.init.zeros_(m.bias)

    def forward(self, x):
        for i in range(1, 7):
            x = getattr(self, f"bn{i}")(F.elu(getattr(self, f"conv{i}")(x)))
            if i % 2 == 0:
                x = F.dropout(F.max_pool2d(x, 2), self.drop[i // 2 - 1], self.training)
        x = x.flatten(1)
        x = F.dropout(self.bn_fc(F.elu(self.fc(x))), self.drop[3], self.training)
        return {task: getattr(self, f"head_{task}")(x) for task in TASK_CLASSES}


def masked_ce(logits, labels):
    """Mean cross-entropy over rows with label >= 0; exactly 0 (and no gradient) when none is labelled.

    Computed with no value read back to the host (no `if mask.any()`, no boolean indexing, whose output
    size the host must learn), so that a CUDA graph can capture it and an eager GPU step does not wait.
    """
    labelled = (labels >= 0).to(logits.dtype)
    per_row = F.cross_entropy(logits, labels.clamp(min=0), reduction="none")
    return (per_row * labelled).sum() / labelled.sum().clamp(min=1)


def joint_loss(outputs, labels, weights=TASK_WEIGHTS):
    per_task = {t: masked_ce(outputs[t], labels[t]) for t in TASK_CLASSES}
    total = sum(weights[t] * per_task[t] for t in TASK_CLASSES)
    return total, per_task
