"""ActiveSec: local, privacy-first continuous authentication from pointer and keystroke timing."""

__version__ = "0.1.0"
