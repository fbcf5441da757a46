"""Template packs and the scaffold engine: answers, pack, render, write, engine."""
