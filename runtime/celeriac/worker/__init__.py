"""The worker: fetch messages, run tasks in a pool, settle outcomes, never lose a message."""
