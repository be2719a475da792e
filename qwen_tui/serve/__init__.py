"""``qwen-tui serve``: the OpenAI chat API over HTTP, on the in-process engine.

- ``access.py``     who may use it: the Host a request names, the web page (Origin) it
                    comes from, CORS for the pages allowed
- ``limits.py``     how much one client, and all together, may ask of the server
- ``body.py``       a POST body read as JSON within those limits (type, size, time, memory)
- ``request.py``    a request body checked and turned into ChatMessages and GenerationParams
- ``window.py``     whether a prompt fits the context window: by characters, then tokens
- ``errors.py``     the OpenAI error shape and its status codes
- ``stops.py``      stop strings: cutting the answer at the first one, as it streams
- ``chunks.py``     the response bodies: completions, stream chunks, usage, timings
- ``jobs.py``       a request's life in the scheduler and the events its coroutine reads
- ``scheduler.py``  one engine, one reply at a time: a bounded queue, prompts counted off the
                    worker, requests in turn (FIFO), cancelled when the client goes
- ``app.py``        the Starlette app: routes, the API key, errors as JSON
- ``connections.py``  uvicorn's h11 protocol with a deadline for headers and a connection cap
- ``server.py``     the listening socket and uvicorn
- ``command.py``    the CLI command

No Textual here: the server is core, usable without the UI.
"""

DEFAULT_PORT = 8080
API_KEY_ENV = "QWEN_TUI_API_KEY"  # the key, when not given with --api-key
