"""``hub export``, ``hub bench``: ONNX export, validation, quantization, benchmarks."""
import click


def add_commands(cli: click.Group) -> None:
    pass
