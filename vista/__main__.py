from vista.cli import main

main()
