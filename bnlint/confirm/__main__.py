"""``python -m bnlint.confirm SCRIPT [-- ARGS]``: the confirm command on its own."""
from .cli import confirm_command

if __name__ == "__main__":
    confirm_command(prog_name="bnlint confirm")
