"""Command implementations, one module per `spk2vid` subcommand."""
