"""``qwen-tui serve``: the OpenAI chat API over HTTP, on the in-process engine.

- ``request.py``    a request body checked and turned into ChatMessages and GenerationParams
- ``errors.py``     the OpenAI error shape and its status codes
- ``stops.py``      stop strings: cutting the answer at the first one, as it streams
- ``chunks.py``     the response bodies: completions, stream chunks, usage, timings
- ``scheduler.py``  one engine, one reply at a time: requests wait their turn (FIFO) and
                    cancel theirs when the client goes
- ``app.py``        the Starlette app: routes, the API key, errors as JSON
- ``server.py``     the listening socket and uvicorn
- ``command.py``    the CLI command

No Textual here: the server is core, usable without the UI.
"""

DEFAULT_PORT = 8080
API_KEY_ENV = "QWEN_TUI_API_KEY"  # the key, when not given with --api-key
