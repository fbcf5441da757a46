"""The example model's pipeline steps: plain functions that take their clients as arguments."""
