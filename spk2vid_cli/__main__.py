from spk2vid_cli.cli import main

main()
