"""Every LineageError becomes one line on stderr and its exit code; bugs keep their traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llm_lineage import errors
from llm_lineage.cli import app as app_module
from llm_lineage.cli import main


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


@pytest.mark.parametrize("error_cls", sorted(set(_all_subclasses(errors.LineageError)), key=lambda c: c.__name__))
def test_each_error_maps_to_one_line_and_its_exit_code(error_cls, monkeypatch, capsys):
    def boom():
        raise error_cls("something specific went wrong")

    monkeypatch.setattr(app_module, "app", boom)
    monkeypatch.delenv("LLM_LINEAGE_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == error_cls.exit_code
    assert error_cls.exit_code in (2, 3, 4) or error_cls is errors.LineageError
    err = capsys.readouterr().err
    assert err.startswith("error: something specific went wrong")
    assert "Traceback" not in err
    if error_cls.hint:
        assert f"hint: {error_cls.hint}" in err


@pytest.mark.parametrize("module, extra", [("sklearn.feature_extraction", "stylometry"), ("fastapi", "serve"),
                                           ("ray", "scale"), ("numpy", None)])
def test_a_missing_optional_module_names_its_extra(module, extra, monkeypatch, capsys):
    def boom():
        raise ModuleNotFoundError(f"No module named '{module}'", name=module)

    monkeypatch.setattr(app_module, "app", boom)
    monkeypatch.delenv("LLM_LINEAGE_DEBUG", raising=False)
    if extra is None:  # a module every install has: missing means a broken install, a bug to see whole
        with pytest.raises(ModuleNotFoundError):
            main()
        return
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (f"error: this command needs {module}, which is not installed\n"
                                       f'hint: pip install "llm-lineage[{extra}]"\n')


def test_serve_without_its_extra_is_one_line(victim):
    blocked = "import sys; sys.modules['fastapi'] = sys.modules['uvicorn'] = None; "
    result = subprocess.run([sys.executable, "-c", blocked + "from llm_lineage.cli import main; main()",
                             "serve", str(victim), "--port", "0"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and 'pip install "llm-lineage[serve]"' in result.stderr


def _cli(*args):
    return subprocess.run([sys.executable, "-c", "from llm_lineage.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("setup, code, message", [
    (lambda d: d / "missing", 2, "does not exist"),
    (lambda d: (d / "config.json").write_text("[1, 2") and d, 2, "not valid JSON"),
    (lambda d: (d / "model.pt").write_bytes(b"\x80\x04") and d / "model.pt", 2, "pickle"),
    (lambda d: (d / "model.onnx").write_bytes(b"x") and d / "model.onnx", 2, "unknown weight format"),
])
def test_inspect_bad_input_through_the_real_entry_point(tmp_path, setup, code, message):
    (tmp_path / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    target = setup(tmp_path)
    result = _cli("inspect", str(target))
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2


def test_inspect_json_on_a_zoo_model():
    import json

    from llm_lineage import zoo

    result = _cli("inspect", str(zoo.build("qwen2", seed=0)), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["model_type"] == "qwen2" and summary["num_key_value_heads"] == 2
    assert "q_proj.bias" in summary["layer_roles"]
