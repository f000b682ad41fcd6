"""``hub demo``: the main job, what ``make demo`` runs on a fresh machine.

For now it shows the loaded plugins and the catalogue they fill, and fails if a plugin
did not load. As the modalities learn to fine-tune and export, the demo grows to run
each of them end to end.
"""
import click


def add_commands(cli: click.Group) -> None:
    @cli.command("demo")
    @click.pass_context
    def demo(ctx):
        """Run the main job: show every plugin and the catalogue (fails if a plugin is broken)."""
        ctx.invoke(cli.commands["plugins"])
        ctx.invoke(cli.commands["list"])
        ctx.obj.hub.check_strict()
