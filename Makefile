# The two commands of the README: `make demo` and `make test`. Both prepare the machine first.
.PHONY: setup demo serve test lint format messages

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/python manage.py loaddemo --sensors
	# Queue the tile seeds for the worker that serve.sh starts: the server does not wait for them.
	.venv/bin/python manage.py seedtiles --background
	.venv/bin/python manage.py ensureadmin
	bash scripts/serve.sh

serve:
	bash scripts/serve.sh

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

test: setup lint
	# Two processes (pytest-xdist), each with a database of its own: a file's tests stay together
	# (they share module fixtures such as live servers); much of a run waits on browsers and servers.
	.venv/bin/pytest --create-db -n 2 --dist loadfile

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

messages:
	.venv/bin/python manage.py makemessages -l vi --ignore=.venv --ignore=node_modules --ignore=var
	# The web map keeps its own catalogues (templates and JavaScript) in frontend/locale.
	cd frontend && ../.venv/bin/python ../manage.py makemessages -l vi -d django
	cd frontend && ../.venv/bin/python ../manage.py makemessages -l vi -d djangojs --ignore=static/vendor
