"""Singer tap for NXCloud call detail records."""
