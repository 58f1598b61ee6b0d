"""The torch view of a split: a map-style dataset of whole batches and its batch sampler.

Imported only by :meth:`arena.data.Split.torch`, after checking that torch is installed. It
reads the split through its public :meth:`~arena.data.Split.batch_rows` and
:meth:`~arena.data.Split.read_batch` and imports nothing else of :mod:`arena.data`; worker
processes get the split by pickling, which reopens its files (``Split.__reduce_ex__``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.utils.data


class BatchKey(NamedTuple):
    """What the sampler hands the dataset: which epoch, which batch of it, which rows."""

    epoch: int
    number: int
    rows: np.ndarray


class BatchDataset(torch.utils.data.Dataset):
    """A split whose items are batches: ``dataset[BatchKey]`` -> ``(params, labels)`` tensors.

    Pickling (for worker processes) pickles the split, which keeps its directory and name, not
    the memory-mapped arrays: each worker reopens the shards (headers only).
    """

    def __init__(self, split, transform, seed: list[int]):
        self._split = split
        self._transform = transform
        self._seed = seed

    def __len__(self) -> int:
        return len(self._split)

    def __getitem__(self, key: BatchKey):
        params, labels = self._split.read_batch(key.rows, transforms=self._transform, seed=self._seed,
                                                epoch=key.epoch, number=key.number)
        return torch.from_numpy(params), torch.from_numpy(labels)


class BatchSampler(torch.utils.data.Sampler):
    """Yields one :class:`BatchKey` per batch; each iteration is a new epoch (0, 1, ...)."""

    def __init__(self, split, batch_size: int, shuffle: bool, seed: list[int], drop_last: bool):
        self._split = split
        self._batch_size = batch_size
        self._shuffle = shuffle
        self._seed = seed
        self._drop_last = drop_last
        self.epoch = 0

    def __iter__(self):
        epoch, self.epoch = self.epoch, self.epoch + 1
        for number, rows in self._split.batch_rows(self._batch_size, shuffle=self._shuffle, seed=self._seed,
                                                   drop_last=self._drop_last, epoch=epoch):
            yield BatchKey(epoch, number, rows)

    def __len__(self) -> int:
        return self._split.num_batches(self._batch_size, drop_last=self._drop_last)


def loader(split, batch_size: int, *, shuffle: bool, seed: list[int], transform,
           drop_last: bool, num_workers: int, **options) -> torch.utils.data.DataLoader:
    sampler = BatchSampler(split, batch_size, shuffle, seed, drop_last)
    dataset = BatchDataset(split, transform, seed)
    return torch.utils.data.DataLoader(
        dataset, batch_size=None, sampler=sampler, num_workers=num_workers, **options
    )
