"""The torch view of a split: a map-style dataset of whole batches and its batch sampler.

Imported only by :meth:`arena.data.Split.torch`, after checking that torch is installed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.utils.data

from arena import format as fmt


class BatchKey(NamedTuple):
    """What the sampler hands the dataset: which epoch, which batch of it, which rows."""

    epoch: int
    number: int
    rows: np.ndarray


class BatchDataset(torch.utils.data.Dataset):
    """A split whose items are batches: ``dataset[BatchKey]`` -> ``(params, labels)`` tensors.

    Pickling (for worker processes) keeps the dataset directory and split name, not the
    memory-mapped arrays; each worker reopens the shards (headers only) on first use.
    """

    def __init__(self, split, transform, seed: list[int]):
        self._split = split
        self._root = split.root
        self._name = split.name
        self._transform = transform
        self._seed = seed

    def __len__(self) -> int:
        return len(self._get_split())

    def _get_split(self):
        if self._split is None:
            from arena.data._split import Split

            self._split = Split(fmt.open_dataset(self._root), self._name)
        return self._split

    def __getitem__(self, key: BatchKey):
        params, labels = self._get_split()._batch(key.rows, self._transform, self._seed,
                                                  key.epoch, key.number)
        return torch.from_numpy(params), torch.from_numpy(labels)

    def __getstate__(self):
        return {**self.__dict__, "_split": None}


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
        for number, rows in self._split._batch_rows(
            self._batch_size, self._shuffle, self._seed, self._drop_last, epoch
        ):
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
