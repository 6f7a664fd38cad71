from seqit.cli import main

main()
