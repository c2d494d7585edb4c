"""`python -m tatara_build` is the same as the `tatara-build` console script."""

from tatara_build.cli.app import main

main()
