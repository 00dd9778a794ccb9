"""The API page is complete whatever is installed: every name in each backend's ``__all__``
(the Flax NNX layers included) and every function of the NumPy reference is documented,
read from the source (docs/docsite/api_source.py), and building the page never imports a
framework. Also the layouts the reader accepts: a backend package whose ``__init__`` imports
from its modules and builds names lazily, and the older single-file backend."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BACKENDS = ("torch", "tensorflow", "jax")
NNX_LAYERS = ("SSwish", "SGBlend", "LambdaGELU")
#: Importing any of these (or a submodule) while reading the API is a failure.
FRAMEWORKS = ("torch", "tensorflow", "keras", "tf_keras", "jax", "jaxlib", "flax", "optax")

for _path in (ROOT, DOCS):
    if str(_path) not in sys.path:
        sys.path.append(str(_path))

from docsite import api, api_source  # noqa: E402
from docsite.common import BuildError, esc  # noqa: E402
from sgblend_spec import spec  # noqa: E402

# Run in a fresh interpreter in which importing a framework raises, as if it were not
# installed, and records the attempt (a sys.meta_path finder rather than
# sys.modules[name] = None, so that an attempt caught inside the builder is still seen).
READ_WITHOUT_FRAMEWORKS = textwrap.dedent(f"""
    import importlib.abc, json, sys
    FRAMEWORKS = {FRAMEWORKS!r}
    preloaded = sorted(n for n in sys.modules if n.partition(".")[0] in FRAMEWORKS)
    attempts = []

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in FRAMEWORKS:
                attempts.append(name)
                raise ModuleNotFoundError(f"No module named {{name!r}} (hidden by the test)", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    sys.path[:0] = [{str(ROOT)!r}, {str(DOCS)!r}]
    from docsite import api
    from sgblend_spec import spec

    page = api.api_page(spec)
    loaded = sorted(n for n in sys.modules if n.partition(".")[0] in FRAMEWORKS)
    print(json.dumps({{"preloaded": preloaded, "attempts": attempts, "loaded": loaded, "page": page}}))
""")


@pytest.fixture(scope="module")
def page_without_frameworks() -> str:
    proc = subprocess.run([sys.executable, "-c", READ_WITHOUT_FRAMEWORKS], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["preloaded"] == [], "a framework was imported at interpreter start-up"
    assert result["attempts"] == [], f"reading the API imported {result['attempts']}"
    assert result["loaded"] == []
    return result["page"]


def declared_all(backend: str) -> list[str]:
    """The backend's ``__all__``, read here independently of the builder: a literal list in
    ``backends/<backend>/__init__.py`` (or the single file), possibly with ``*spec.FUNCTIONS``."""
    path = ROOT / "backends" / backend / "__init__.py"
    if not path.is_file():
        path = ROOT / "backends" / f"{backend}.py"
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            names = []
            for element in node.value.elts:
                if isinstance(element, ast.Starred):
                    assert ast.unparse(element.value) == "spec.FUNCTIONS", ast.unparse(element)
                    names.extend(spec.FUNCTIONS)
                else:
                    names.append(ast.literal_eval(element))
            return names
    pytest.fail(f"{path} has no __all__")


@pytest.mark.parametrize("backend", BACKENDS)
def test_api_page_lists_every_name_in_a_backends_all_without_importing_it(page_without_frameworks, backend):
    names = declared_all(backend)
    assert set(spec.FUNCTIONS) <= set(names)
    if backend == "jax":
        assert set(NNX_LAYERS) <= set(names)  # built lazily: they import flax
    missing = [n for n in names if f'id="sgblend_spec.backends.{backend}.{n}"' not in page_without_frameworks]
    assert not missing, f"{backend}: not on the API page: {missing}"
    section = page_without_frameworks.split(f'<h2 id="backend-{backend}">')[1].split("</section>")[0]
    assert section.startswith(f"sgblend_spec.backends.{backend}</h2><p>Read from the source")


def test_api_page_documents_every_reference_function_from_its_spec_record(page_without_frameworks):
    from sgblend_spec import reference

    for name in reference.__all__:
        assert f'id="sgblend_spec.reference.{name}"' in page_without_frameworks, name
    record = spec.FUNCTIONS["sgblend"]
    signature = "sgblend(x, " + ", ".join(f"{p.name}={p.default!r}" for p in record.params) + ")"
    assert f'<code>{signature}</code>' in page_without_frameworks
    assert esc(record.summary) in page_without_frameworks


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_page_names_what_the_installed_backend_exports(page_without_frameworks, backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed here")
    module = importlib.import_module(f"sgblend_spec.backends.{backend}")
    assert sorted(declared_all(backend)) == sorted(module.__all__)
    for name in module.__all__:
        assert f'id="sgblend_spec.backends.{backend}.{name}"' in page_without_frameworks


# ----------------------------------------------------------------------------- layouts
PACKAGE = {
    "__init__.py": '''
        """Fake backend package."""
        from .functional import sgblend, swish
        from .layers import LIMIT, Layer as PublicLayer

        __all__ = ["swish", "sgblend", "PublicLayer", "LIMIT", "Lazy"]


        def __getattr__(attribute):
            if attribute == "Lazy":
                from . import lazy

                return lazy.Lazy
            raise AttributeError(attribute)
    ''',
    "functional.py": '''
        """The functions."""
        import inspect

        def _bind(name):
            inspect.Parameter.KEYWORD_ONLY

        swish = _bind("swish")
        sgblend = _bind("sgblend")
    ''',
    "layers.py": '''
        """The layers."""
        from sgblend_spec import spec

        _D = {name: record.defaults for name, record in spec.FUNCTIONS.items()}
        #: The largest thing.
        LIMIT = 3


        class _Base:
            def __init__(self, lam: float = _D["lambda_gelu"]["lam"], *, framework_default=torch.float32):
                pass


        class Layer(_Base):
            """A layer."""

            def call(self, x) -> int:
                """Run it."""

            @property
            def size(self):
                """How big."""
    ''',
    "lazy.py": '''
        """Imports its framework."""
        import flax


        class Lazy:
            """Built on first access."""
    ''',
}

SINGLE_FILE = '''
    """Fake single-file backend."""
    from sgblend_spec import spec

    __all__ = [*spec.FUNCTIONS, "make", "Layer"]


    def _bind(name):
        globals()[name] = lambda x: x


    for _name in spec.FUNCTIONS:
        _bind(_name)


    def make(beta=spec.FUNCTIONS["swish"].defaults["beta"]) -> int:
        """Make one."""


    def _layers():
        class Layer:
            """Built inside a function."""

            def __init__(self, *, rngs=None):
                pass

        return {"Layer": Layer}
'''


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A fake checkout root for the reader (backends/ only; sgblend_spec is the real one)."""
    (tmp_path / "backends").mkdir()
    monkeypatch.setattr(api_source, "ROOT", tmp_path)
    monkeypatch.setattr(api, "ROOT", tmp_path)
    api_source.load.cache_clear()
    yield tmp_path / "backends"
    api_source.load.cache_clear()


def _write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")


def test_package_layout_followed_through_imports_and_lazy_names(checkout):
    _write(checkout / "fake", PACKAGE)
    html = api.backend_html("fake", spec)
    prefix = 'id="sgblend_spec.backends.fake.'
    for name in ("swish", "sgblend", "PublicLayer", "LIMIT", "Lazy"):
        assert f"{prefix}{name}\"" in html, name
    assert "<code>sgblend(x, *, alpha=0.0, beta=1.0, gamma=0.0)</code>" in html  # KEYWORD_ONLY binder
    lam = spec.FUNCTIONS["lambda_gelu"].defaults["lam"]
    # inherited __init__, self dropped, a spec default computed, a framework default as written
    assert f"<code>class PublicLayer(lam: float = {lam!r}, *, framework_default=torch.float32)</code>" in html
    assert "<code>call(x) -&gt; int</code>" in html and "<code>size</code> (property)" in html
    assert "<p>The largest thing.</p>" in html and "<p>Built on first access.</p>" in html
    # grouped by the module that defines each name, functions first
    groups = [html.index(f'<h3 id="sgblend_spec.backends.fake.{m}">') for m in ("functional", "layers", "lazy")]
    assert groups == sorted(groups)


def test_single_file_layout_with_a_binding_loop_and_nested_classes(checkout):
    (checkout / "fake.py").write_text(textwrap.dedent(SINGLE_FILE), encoding="utf-8")
    html = api.backend_html("fake", spec)
    for name in (*spec.FUNCTIONS, "make", "Layer"):
        assert f'id="sgblend_spec.backends.fake.{name}"' in html, name
    assert "<code>make(beta=1.0) -&gt; int</code>" in html
    assert "<code>class Layer(*, rngs=None)</code>" in html
    assert "<h3" not in html  # one module: no per-module headings


def test_a_public_name_without_source_fails_the_build(checkout):
    _write(checkout / "fake", {"__init__.py": '__all__ = ["nowhere"]\n'})
    with pytest.raises(BuildError, match="'nowhere' is in __all__"):
        api.backend_html("fake", spec)


def test_a_backend_missing_from_the_checkout_is_said_so(checkout):
    assert "Not present in this checkout" in api.backend_html("fake", spec)
