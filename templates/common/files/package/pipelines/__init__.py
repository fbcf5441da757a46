"""The project's training module (``train.py``): the one piece of the lifecycle it owns."""
