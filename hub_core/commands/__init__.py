"""The ``hub`` commands, one module per family; each module has ``add_commands(cli)``."""
