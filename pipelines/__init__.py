"""The ML lifecycle runtime (steps, executors, serving); arrives with the local-mode issue."""
