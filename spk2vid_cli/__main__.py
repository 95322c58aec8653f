from spk2vid_cli.commands.app import main

main()
