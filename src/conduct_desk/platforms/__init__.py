"""Platform adapters: one file per chat system, each SDK imported only in its own file."""
