"""The torch backend of the ranking pass (the CUDA path; it also runs on the CPU for the parity tests):
±1 matmul distances, one bincount per block, a stable sort for AP sums and top-k ranks."""
from __future__ import annotations

from ..codes import PackedCodes, hamming_torch, matmul_dtype, torch_pm1
from .relevance import Relevance
from .stats import Needs, RankStats, new_stats

__all__ = ["stats_torch"]


def stats_torch(qc: PackedCodes, dc: PackedCodes, rel: Relevance, needs: Needs, block: int | None,
                 device: str) -> RankStats:
    """The same statistics with torch (the CUDA path): ±1 matmul distances, bincount, stable sort."""
    import torch

    nq, nd, bits = qc.n, dc.n, qc.bits
    width = bits + 1
    stats = new_stats(nq, nd, bits, needs, device)
    block = max(1, int(block)) if block else max(1, min(4096, (256 << 20) // (8 * nd)))
    mdt = matmul_dtype(bits, device)
    d_pm1 = torch_pm1(dc, device, mdt)
    if rel.single:
        d_lab = torch.from_numpy(rel.d).to(device)
        q_lab_all = torch.from_numpy(rel.q).to(device)
    else:
        ldt = torch.float16 if str(device).startswith("cuda") and rel.d_hot.shape[1] <= 2048 else torch.float32
        d_hot = torch.from_numpy(rel.d_hot).to(device=device, dtype=ldt)
        q_hot_all = torch.from_numpy(rel.q_hot).to(device=device, dtype=ldt)
    positions = torch.arange(1, nd + 1, device=device, dtype=torch.float64)
    k_eff = min(needs.topk, nd)
    for start in range(0, nq, block):
        stop = min(nq, start + block)
        b = stop - start
        dist = hamming_torch(torch_pm1(qc[start:stop], device, mdt), d_pm1)  # (b, nd) int32
        if rel.single:
            is_rel = d_lab[None, :] == q_lab_all[start:stop, None]
        else:
            is_rel = (q_hot_all[start:stop] @ d_hot.T) > 0
        offsets = torch.arange(b, device=device, dtype=torch.int64)[:, None] * (2 * width)
        keys = dist.to(torch.int64) + is_rel.to(torch.int64) * width + offsets
        counts = torch.bincount(keys.flatten(), minlength=b * 2 * width).reshape(b, 2, width)
        stats.hist_rel[start:stop] = counts[:, 1].cpu().numpy()
        stats.hist_all[start:stop] = (counts[:, 0] + counts[:, 1]).cpu().numpy()
        if needs.ap:
            ranked = torch.sort(dist, dim=1, stable=True).indices
            hits = torch.gather(is_rel, 1, ranked)
            found = torch.cumsum(hits, dim=1, dtype=torch.float64)
            ap = torch.where(hits, found / positions, torch.zeros((), dtype=torch.float64, device=device))
            stats.ap_sum[start:stop] = ap.sum(dim=1).cpu().numpy()
            if needs.topk:
                stats.topk_rel[start:stop, :k_eff] = hits[:, :k_eff].cpu().numpy()
        elif needs.topk:
            unique = dist.to(torch.int64) * nd + torch.arange(nd, device=device)  # db-order tie break
            top = torch.topk(unique, k_eff, dim=1, largest=False, sorted=True).indices
            stats.topk_rel[start:stop, :k_eff] = torch.gather(is_rel, 1, top).cpu().numpy()
    return stats

