"""Entry point: `python -m cppn_anim`, the same command line as `cppn-anim` (cli.main)."""
from .cli import main

raise SystemExit(main())
