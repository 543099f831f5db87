from dlrun.cli import app

app(prog_name="dlrun")
