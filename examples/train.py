"""A tiny DDP training job on CPU (gloo): fits y = 3x + 1 and prints each rank's loss.

Run it with torchx: ``torchx run dist.ddp -j 2x2 --script examples/train.py --epochs 3``.
"""

import argparse
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = DDP(torch.nn.Linear(1, 1))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    x = torch.linspace(-1, 1, 64).unsqueeze(1)[rank::world]
    y = 3 * x + 1
    for epoch in range(args.epochs):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        print(f"rank {rank}/{world} (node {os.environ.get('GROUP_RANK', '?')})"
              f" epoch {epoch} loss {loss.item():.4f}", flush=True)
    dist.barrier()
    if rank == 0:
        print(f"done: trained on {world} processes", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
