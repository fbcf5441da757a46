"""Command modules; each holds one `typer.Typer()` that the root app composes."""
