"""`edgeres export`: a checkpoint to any registered format, verified against PyTorch."""

from __future__ import annotations

import json

import click

from ..formats import registry as formats
from ..options import LoadOptions
from .flags import load_options


@click.command()
@click.argument("model", type=click.Path())
@click.option("--out", required=True, type=click.Path(dir_okay=False), help=f"Output file ({formats.listing(' or ')}).")
@click.option("--format", "fmt", type=click.Choice(formats.names()), help="Default: from the --out suffix.")
@click.option("--fp16", is_flag=True, help="Float16 weights (TFLite) / float16 compute with float32 I/O (ONNX).")
@click.option("--layout", type=click.Choice(["nchw", "nhwc"]), help="Input layout (default ONNX nchw, TFLite nhwc).")
@click.option("--batch", help="Fixed batch size N, or 'dynamic' (default ONNX dynamic, TFLite 1).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--no-verify", is_flag=True, help="Skip running the file against PyTorch.")
@click.option("--verify-data", type=click.Path(), help="Verify on these images (default: random inputs).")
@click.option("--verify-limit", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print the export report as JSON.")
@load_options
def export(
    model: str,
    out: str,
    fmt: str | None,
    fp16: bool,
    layout: str | None,
    batch: str | None,
    force: bool,
    no_verify: bool,
    verify_data: str | None,
    verify_limit: int,
    as_json: bool,
    load: LoadOptions,
) -> None:
    """Export a checkpoint to any format edgeres writes (--format), card embedded, verified against PyTorch."""
    from ..export import ExportOptions, export_model

    given = click.get_current_context().get_parameter_source("verify_limit") == click.core.ParameterSource.COMMANDLINE
    if no_verify and given:
        raise click.UsageError("--verify-limit sizes the verification that --no-verify skips; drop one of them")
    options = ExportOptions(fp16=fp16, layout=layout, batch=batch)
    result = export_model(
        model,
        out,
        fmt=fmt,
        options=options,
        verify_output=not no_verify,
        verify_data=verify_data,
        verify_limit=verify_limit,
        force=force,
        load_options=load,
    )
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    io = result.io
    click.echo(
        f"wrote {result.path} ({result.file_bytes / 1e6:.2f} MB, {result.format} {io.precision}, {io.layout}, "
        f"batch {io.batch or 'dynamic'}) in {result.seconds:.1f} s"
    )
    check = result.verification
    if check is not None:
        click.echo(
            f"verified on {check.n} {'real images' if check.inputs != 'random' else 'random inputs'}: top-1 "
            f"agreement {check.top1_agreement:.2%}, max |diff| {check.max_abs_diff:.2e} "
            f"({check.relative_diff:.1e} of the logit range); report {result.report_path}"
        )
