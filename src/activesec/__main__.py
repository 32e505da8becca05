"""``python -m activesec``: the ``activesec`` command, for an environment whose scripts are not
on ``PATH`` (a venv not activated, ``pip install --user`` without ``~/.local/bin``)."""

from activesec.cli.main import main

main()
