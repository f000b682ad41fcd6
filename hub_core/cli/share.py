"""``hub push`` and ``hub pull``: a model directory as a repository revision, and back
(``hub_core.share``)."""
from __future__ import annotations

from pathlib import Path

import click


def add_commands(cli: click.Group) -> None:
    @cli.command("push")
    @click.argument("model_dir", type=click.Path(file_okay=False, path_type=Path))
    @click.argument("target")
    @click.option("--license", "license_", default="other", show_default=True,
                  help="The license the model card declares (an SPDX id such as apache-2.0).")
    @click.option("--dataset", "datasets", multiple=True, help="A dataset it was trained on, for the card (repeat).")
    @click.option("--no-interop", is_flag=True,
                  help="Leave out the files the field's own library loads (transformers, timm): a smaller push.")
    @click.pass_obj
    def push_cmd(obj, model_dir, target, license_, datasets, no_interop):
        """Publish MODEL_DIR as a revision of the repository TARGET: a folder, a file:// s3:// gs://
        URL, or hf://OWNER/NAME (the Hugging Face Hub); prints the revision's id. The card carries
        the Hub's metadata; the revision is named by its content's digest."""
        from hub_core.common.console import notice
        from hub_core.share.publish import publish

        revision = publish(obj.catalogue, model_dir, target, license=license_, datasets=list(datasets),
                           interop=not no_interop, announce=notice)
        notice(f"pushed {model_dir} -> {target} revision {revision.short} ({len(revision.files)} files); "
               f"pull it with: hub pull {target}@{revision.short} DIR")
        click.echo(revision.id)

    @cli.command("pull")
    @click.argument("source")
    @click.argument("directory", type=click.Path(path_type=Path))
    @click.option("--overwrite", is_flag=True, help="Replace DIRECTORY when it exists (only once the pull is verified).")
    @click.pass_obj
    def pull_cmd(obj, source, directory, overwrite):
        """Bring a revision of the repository SOURCE (URL or folder; URL@REV for a revision, else
        the newest) into DIRECTORY, verified first: every file's digest, no pickles, the manifest."""
        from hub_core.common.console import notice
        from hub_core.model.manifest import read_manifest
        from hub_core.share.store import pull, split_source

        url, rev = split_source(source)
        revision = pull(url, rev, directory, read_manifest, overwrite=overwrite)
        notice(f"pulled {url} revision {revision.short} -> {directory} ({len(revision.files)} files, verified)")
