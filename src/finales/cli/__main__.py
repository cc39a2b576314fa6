from finales.cli.main import main

main()
