from responder.cli import main

main()
