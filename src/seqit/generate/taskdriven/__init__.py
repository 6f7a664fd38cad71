"""Task-driven sequential data: builders (pure) and the per-seed jobs that run them."""
