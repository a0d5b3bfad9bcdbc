"""Logs in, asks for an image, polls until the generation ends and saves the image.

Usage: python generate.py OUTPUT_FILE [PROMPT]   (settings: see ../README.md)
"""

import base64
import os
import sys
import time

import requests

BASE_URL = os.environ.get("IMAGEGEN_URL", "http://localhost:8000").rstrip("/")
# Per request; the whole generation may take longer (IMAGEGEN_TIMEOUT).
REQUEST_TIMEOUT = 30
DEFAULT_PROMPT = "A cute cat sitting on a windowsill"


class ApiError(Exception):
    """A refused request, with the message (and fields at fault) of the API's envelope."""


def data_of(response):
    """The `data` of a successful answer; raises ApiError with the server's message otherwise."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.ok and isinstance(body, dict):
        return body["data"]
    where = f"{response.request.method} {response.url} answered {response.status_code}"
    if not isinstance(body, dict) or "message" not in body:
        raise ApiError(f"{where}: {response.text[:200]}")
    fields = "".join(f"\n  {e['field']}: {e['message']}" for e in body.get("errors") or [])
    raise ApiError(f"{where}: {body['message']}{fields}")


def generate(prompt, timeout):
    """Runs one generation to its end and returns the completed record."""
    session = requests.Session()
    login = {
        "email": os.environ.get("IMAGEGEN_EMAIL", "user@example.com"),
        "password": os.environ.get("IMAGEGEN_PASSWORD", "password123"),
        # With a name, the first login creates the account.
        "name": os.environ.get("IMAGEGEN_NAME", "John Doe"),
    }
    token = data_of(session.post(f"{BASE_URL}/api/auth/login", json=login, timeout=REQUEST_TIMEOUT))["token"]
    session.headers["Authorization"] = f"Bearer {token}"

    request = {"prompt": prompt}
    if os.environ.get("IMAGEGEN_MODEL"):
        request["model"] = os.environ["IMAGEGEN_MODEL"]
    # The answer is 202 at once, with the pending record; the image comes when the worker is done.
    record = data_of(session.post(f"{BASE_URL}/api/generations/", json=request, timeout=REQUEST_TIMEOUT))
    print(f"generation {record['id']}: {record['status']}")

    seen = record["status"]
    deadline = time.monotonic() + timeout
    while record["status"] not in ("completed", "failed", "canceled"):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"generation {record['id']} still {record['status']} after {timeout}s")
        time.sleep(1)
        record = data_of(session.get(f"{BASE_URL}/api/generations/{record['id']}", timeout=REQUEST_TIMEOUT))
        if record["status"] != seen:
            print(f"generation {record['id']}: {record['status']}")
            seen = record["status"]
    return record


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(f"usage: {sys.argv[0]} OUTPUT_FILE [PROMPT]")
    output = sys.argv[1]
    prompt = sys.argv[2] if len(sys.argv) == 3 else DEFAULT_PROMPT
    try:
        record = generate(prompt, float(os.environ.get("IMAGEGEN_TIMEOUT", "300")))
    except (ApiError, TimeoutError, requests.RequestException) as err:
        sys.exit(f"error: {err}")
    if record["status"] != "completed":
        sys.exit(f"error: generation {record['id']} {record['status']}: {record['error'] or record['cancel_reason']}")

    # image_url is a data URL: data:image/png;base64,<the bytes>
    with open(output, "wb") as file:
        file.write(base64.b64decode(record["image_url"].split(",", 1)[1]))
    image = record["image"]
    print(f"saved {image['mime_type']} {image['width']}x{image['height']} to {output}")


if __name__ == "__main__":
    main()
