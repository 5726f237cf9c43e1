from repro.cli.main import main

main()
