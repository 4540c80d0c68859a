"""responder: find leaked credentials in browser captures, revoke them, record every forced logout.

The plugin-facing modules are `model`, `interfaces`, `errors`, `secret` (and later `http`, `testing`);
everything else is internal and may change without notice.
"""

__version__ = "0.1.0"
