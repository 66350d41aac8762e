"""stage-executor: a yip-compatible cloud-config stage executor for Kairos nodes."""

__version__ = "0.1.0"
