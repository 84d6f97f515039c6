import os

os.environ["HF_DATASETS_OFFLINE"] = "1"  # nothing in these tests may touch the network
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
