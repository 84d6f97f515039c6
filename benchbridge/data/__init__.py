"""Data: prepared datasets (WebDataset shards + index) and the shard loader."""

from benchbridge.data.source import INDEX_FILE, ClassInfo, DatasetPlugin, DatasetSource

__all__ = ["INDEX_FILE", "ClassInfo", "DatasetPlugin", "DatasetSource"]
