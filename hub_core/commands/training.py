"""``hub finetune``, ``hub pretrain``, ``hub evaluate``, ``hub predict`` (the engine issue)."""
import click


def add_commands(cli: click.Group) -> None:
    pass
