"""A small headless-Chromium helper for tests that look at a page the kit writes.

It drives Debian's ``chromium`` and ``chromium-driver`` packages through Selenium, offline, and
offers what page tests need: screenshots as NumPy arrays, mouse moves to page coordinates, and
queries that see inside shadow DOM (Bokeh 3 renders its widgets and plots there).

Where Chromium, its driver or Selenium is missing, :func:`require_browser` skips the test with
the command that installs them; under continuous integration (``CI=true``) it fails instead,
because the CI script installs them and a browser test must never pass unrun there.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

INSTALL_HINT = (
    "apt-get install chromium chromium-driver (and pip install selenium) to run the browser tests"
)

# Where Debian puts them; CHROMIUM_BINARY and CHROMEDRIVER override the paths.
DEFAULT_CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
DEFAULT_CHROMEDRIVER = ("/usr/bin/chromedriver", "chromedriver")

# The flags the kit's browser tests always use: headless, and silent on a machine without
# network (without the background-networking flags Chromium keeps retrying refused connections).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--force-device-scale-factor=1",
    "--hide-scrollbars",
)

# JavaScript that lists elements matching a CSS selector in the document and in every open
# shadow root, recursively.
DEEP_QUERY_SCRIPT = """
const selector = arguments[0];
const found = [];
function walk(root) {
    for (const element of root.querySelectorAll(selector)) {
        found.push(element);
    }
    for (const element of root.querySelectorAll("*")) {
        if (element.shadowRoot) {
            walk(element.shadowRoot);
        }
    }
}
walk(document);
return found;
"""


def _find_executable(environment_variable: str, candidates: tuple[str, ...]) -> str | None:
    override = os.environ.get(environment_variable)
    if override:
        return override if Path(override).is_file() else None
    for candidate in candidates:
        found = shutil.which(candidate)
        if found is not None:
            return found
    return None


def missing_browser_parts() -> list[str]:
    """Return what is missing to run a browser test (empty when everything is installed)."""
    missing = []
    if _find_executable("CHROMIUM_BINARY", DEFAULT_CHROMIUM) is None:
        missing.append("chromium")
    if _find_executable("CHROMEDRIVER", DEFAULT_CHROMEDRIVER) is None:
        missing.append("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (Python package)")
    return missing


def running_under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_browser() -> None:
    """Skip the calling test when no browser is installed; fail instead under CI."""
    missing = missing_browser_parts()
    if not missing:
        return
    message = f"Browser test needs {', '.join(missing)}: {INSTALL_HINT}."
    if running_under_ci():
        pytest.fail(message + " CI=true, and .ci/run installs them, so this is an error.")
    pytest.skip(message)


@contextlib.contextmanager
def headless_chromium(width: int = 1600, height: int = 900, page_load_timeout: float = 60):
    """Yield a Selenium driver of a fresh headless Chromium; always quit it afterwards."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _find_executable("CHROMIUM_BINARY", DEFAULT_CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    profile_dir = tempfile.mkdtemp(prefix="chromium-profile-")
    options.add_argument(f"--user-data-dir={profile_dir}")
    service = Service(executable_path=_find_executable("CHROMEDRIVER", DEFAULT_CHROMEDRIVER))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(page_load_timeout)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile_dir, ignore_errors=True)


def open_file(driver, path: Path) -> None:
    """Open a local file in the browser."""
    driver.get(Path(path).resolve().as_uri())


def _is_ready(value) -> bool:
    """None, False and empty containers mean "not yet"; anything else (an array too) is a result."""
    if value is None or value is False:
        return False
    if isinstance(value, np.ndarray):
        return True
    return bool(value)


def wait_until(condition, timeout: float = 20, interval: float = 0.1, message: str = "condition"):
    """Call ``condition()`` until it returns a result (not None, False or empty); return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if _is_ready(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"Timed out after {timeout} s waiting for {message}.")
        time.sleep(interval)


def deep_query(driver, selector: str) -> list:
    """Return the elements matching ``selector``, shadow roots included."""
    return driver.execute_script(DEEP_QUERY_SCRIPT, selector)


def bounding_rect(driver, element) -> dict[str, float]:
    """Return an element's bounding box in viewport (CSS) pixels."""
    return driver.execute_script(
        "const box = arguments[0].getBoundingClientRect();"
        "return {left: box.left, top: box.top, width: box.width, height: box.height};",
        element,
    )


def screenshot(driver, path: Path | None = None) -> np.ndarray:
    """Return the viewport as an ``(height, width, 3)`` uint8 array, saved to ``path`` if given."""
    png = driver.get_screenshot_as_png()
    if path is not None:
        Path(path).write_bytes(png)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def move_mouse(driver, x: float, y: float) -> None:
    """Move the mouse pointer to viewport coordinates (CSS pixels), arriving by a small step."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    builder = ActionBuilder(driver)
    # Two moves: pages react to pointer movement, and the first move may be a jump from afar.
    builder.pointer_action.move_to_location(int(round(x)) - 1, int(round(y)))
    builder.pointer_action.move_to_location(int(round(x)), int(round(y)))
    builder.perform()
