"""An embedding table kept in a low-bit format; rows are dequantized as they are looked up.

A float32 table of Qwen's 151,936 tokens costs 544 MB for a 896-wide model, more than all its
quantized layers. Stored in bigdl-llm's bytes instead (sym_int5: 89 MB) and regrouped for our
kernels at load; a model that ties the table to its output head shares the head's bytes.
"""

from __future__ import annotations

from typing import Any

import torch

from ... import kernels
from ...kernels.formats import FORMATS, QK, Format, dequantize


class QuantizedEmbedding(torch.nn.Module):
    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        fmt: Format,
        data: torch.Tensor | None = None,
        shared: Any = None,
    ) -> None:
        super().__init__()
        if (data is None) == (shared is None):
            raise ValueError("an embedding has its own bytes or shares a layer's, not both")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.fmt = fmt
        self.padding_idx = None
        if data is not None:
            self.weight = torch.nn.Parameter(data, requires_grad=False)
        # the output head whose bytes these are; not a submodule, so saved once, with the head
        self.__dict__["shared"] = shared
        self.__dict__["packed"] = None

    @classmethod
    def quantize(cls, table: torch.Tensor, fmt_name: str) -> QuantizedEmbedding:
        from .build import quantized_bytes

        num, dim = table.shape
        return cls(num, dim, FORMATS[fmt_name], data=quantized_bytes(table, fmt_name))

    def _raw(self) -> torch.Tensor:
        shared = self.__dict__["shared"]
        return shared.weight.data if shared is not None else self.weight.data

    def prepare(self) -> None:
        """Regroup the bytes for the kernels (or reuse the shared head's regrouping)."""
        if self.__dict__["packed"] is not None or not kernels.available():
            return
        shared = self.__dict__["shared"]
        if shared is not None:
            from .. import matmul

            self.__dict__["packed"] = matmul.pack(shared)
            return
        packed = kernels.pack(self.fmt, self.weight.data, self.num_embeddings, self.embedding_dim)
        self.weight.data = packed.data  # regrouped in place of bigdl-llm's layout
        self.__dict__["packed"] = packed

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        packed = self.__dict__["packed"]
        if packed is None and kernels.available():
            self.prepare()
            packed = self.__dict__["packed"]
        if packed is not None:
            return kernels.dequantize_rows(packed, ids)
        return self._rows_in_python(ids)

    def _rows_in_python(self, ids: torch.Tensor) -> torch.Tensor:
        """Without the kernels: the rows' blocks, dequantized by the reference decoder."""
        shared = self.__dict__["shared"]
        if shared is not None and shared.__dict__.get("qwen_tui_packed") is not None:
            raise RuntimeError("the shared head was regrouped but the kernels are missing")
        row_bytes = self.embedding_dim // QK * self.fmt.block_bytes
        table = self._raw().view(self.num_embeddings, row_bytes)
        flat = ids.reshape(-1).to(torch.int64)
        rows = table.index_select(0, flat).contiguous()
        out = dequantize(rows.view(-1), self.fmt, flat.numel(), self.embedding_dim)
        return out.view(*ids.shape, self.embedding_dim)

    def extra_repr(self) -> str:
        shared = " shared with the output head" if self.__dict__["shared"] is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}, {self.fmt.name}{shared}"
